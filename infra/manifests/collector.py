"""The OpenTelemetry Collector the services send their traces to: its configuration (an overlay's, as the backend it
forwards to is), the Deployment, its Service, disruption budget and NetworkPolicies."""
import json
import urllib.parse

from .network import DNS, network_policy, pods, rule
from .objects import cluster_service, disruption_budget, secure_container, upstream_deployment
from .settings import (COLLECTOR, COLLECTOR_HEALTH_PORT, COLLECTOR_IMAGE, COLLECTOR_OTLP_PORT, PART_OF,
                       TRACE_BACKENDS)

# The image's own default configuration lives here; mounting the ConfigMap over it leaves no second one to mistake.
CONFIG_DIR = "/etc/otelcol-contrib"


def collector_conf(endpoint):
    """The collector's configuration, as JSON (which is YAML) so infra/check.py can read it exactly."""
    conf = {
        # OTLP/HTTP only: the services' exporter speaks nothing else, and a gRPC port nobody uses is one more to guard.
        # Since v0.104 the collector listens on localhost unless told, where no other pod can reach it.
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"0.0.0.0:{COLLECTOR_OTLP_PORT}"}}}},
        "processors": {
            # Of the container's memory limit (its cgroup), so it follows resources.limits: past it the collector
            # refuses spans (the services drop them) instead of being killed with every batch it holds.
            "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20},
            "batch": {},
        },
        "exporters": {"otlphttp": {"endpoint": endpoint}},
        # The kubelet's probes come from outside the pod, so this too must not be localhost.
        "extensions": {"health_check": {"endpoint": f"0.0.0.0:{COLLECTOR_HEALTH_PORT}"}},
        "service": {
            "extensions": ["health_check"],
            # The memory limiter first, so that refusing spans happens before they are batched.
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["memory_limiter", "batch"],
                                     "exporters": ["otlphttp"]}},
        },
    }
    return json.dumps(conf, indent=2) + "\n"


def backend_policy(overlay):
    """The collector's way out to the overlay's backend, and nowhere else; its other rules are the base's."""
    endpoint, peer = TRACE_BACKENDS[overlay]
    url = urllib.parse.urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    return network_policy(f"{COLLECTOR}-backend", None, [rule("to", peer, port)], app=COLLECTOR)


def collector_config(overlay):
    """The overlay's part: the configuration, which names the backend, and the egress policy that lets it go there."""
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{COLLECTOR}-config", "labels": PART_OF},
             "data": {"config.yaml": collector_conf(TRACE_BACKENDS[overlay][0])}},
            backend_policy(overlay)]


def collector(catalog):
    container = secure_container({
        "name": "otel-collector",
        "image": COLLECTOR_IMAGE,
        "args": [f"--config={CONFIG_DIR}/config.yaml"],
        "ports": [{"name": "otlp-http", "containerPort": COLLECTOR_OTLP_PORT},
                  {"name": "health", "containerPort": COLLECTOR_HEALTH_PORT}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "health"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/", "port": "health"}, "periodSeconds": 10, "failureThreshold": 3},
        # Out of the Service's endpoints before the collector stops taking spans and flushes what it holds. The image
        # has no shell, so the kubelet does the waiting.
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
    })
    name = COLLECTOR
    return [
        # The overlay's otel-collector-config decides where the traces go.
        upstream_deployment(name, "collector", container, [{"name": "config", "configMap": {"name": f"{name}-config"}}]),
        cluster_service(name, COLLECTOR_OTLP_PORT, "otlp-http"),
        disruption_budget(name),
        # Spans come from the services only (the web's too); the backend's way out is the overlay's (backend_policy).
        network_policy(name, [rule("from", pods(*catalog.names), COLLECTOR_OTLP_PORT)], [DNS]),
    ]
