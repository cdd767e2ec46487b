"""The NATS JetStream cluster: its configuration (one user per service with events, allowed to publish only its own),
the StatefulSet, its Services, disruption budget and NetworkPolicy."""
import json
import re

from .network import DNS, network_policy, pods, rule
from .objects import cluster_service, labels, pod_security, secure_container, spread
from .settings import (ENV_SECRETS_SKIP, NATS_IMAGE, NATS_LAME_DUCK_GRACE_SECONDS, NATS_LAME_DUCK_SECONDS,
                       NATS_PID_FILE, NATS_REPLICAS, NATS_TERMINATION_SECONDS, NATS_TLS_SECRET, NATS_USERS_SECRET,
                       PART_OF)


def nats_conf(catalog, tls):
    """nats-server's configuration, as JSON (which nats-server reads) so infra/check.py can read it exactly.
    "$NAME" strings are written bare: nats-server takes an undefined variable from its environment, which is how the
    passwords come from the Secret and never sit in the ConfigMap."""
    jetstream_api = [f"$JS.API.STREAM.{verb}.TICKETING" for verb in ("INFO", "CREATE", "UPDATE")]
    users = [{"user": name, "password": f"$NATS_PASSWORD_{name.upper()}", "permissions": {
        # Its own events; the stream it ensures at start; its consumers (created, bound, fetched from) and acks.
        # Deleting a consumer or the stream, or purging it, no service ever does.
        "publish": {"allow": [*catalog.publishes[name], *jetstream_api, "$JS.API.INFO", "$JS.API.CONSUMER.>", "$JS.ACK.TICKETING.>"],
                    "deny": ["$JS.API.CONSUMER.DELETE.>"]},
        # Replies (publish acknowledgements, API answers, fetched messages) come to the client's inbox.
        "subscribe": {"allow": ["_INBOX.>"]},
    }} for name in catalog.nats_services]
    conf = {
        "port": 4222,
        "http_port": 8222,
        "server_name": "$POD_NAME",
        # The preStop hook's `--signal ldm=` reads the server's pid from here.
        "pid_file": NATS_PID_FILE,
        "lame_duck_duration": f"{NATS_LAME_DUCK_SECONDS}s",
        "lame_duck_grace_period": f"{NATS_LAME_DUCK_GRACE_SECONDS}s",
        "jetstream": {"store_dir": "/data/jetstream", "max_file_store": "8G"},
        "authorization": {"users": users},
        "cluster": {
            "name": "ticketing",
            "port": 6222,
            # Clients keep to the servers in their NATS_URL, which carry their credentials, instead of learning
            # bare pod addresses.
            "no_advertise": True,
            "authorization": {"user": "route", "password": "$NATS_ROUTE_PASSWORD"},
            "routes": [f"$NATS_ROUTE_{i}" for i in range(NATS_REPLICAS)],
        },
    }
    if tls:
        files = {"cert_file": "/etc/nats-tls/tls.crt", "key_file": "/etc/nats-tls/tls.key", "ca_file": "/etc/nats-tls/ca.crt"}
        conf["tls"] = {"cert_file": files["cert_file"], "key_file": files["key_file"], "timeout": 2}
        # Routes check each other's certificate (and its name, nats-N.nats) against the cluster's own CA.
        conf["cluster"]["tls"] = {**files, "timeout": 2}
    text = json.dumps(conf, indent=2)
    return re.sub(r'"\$([A-Z][A-Z0-9_]*)"', r"$\1", text) + "\n"


def nats_config(catalog, tls):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nats-config", "labels": PART_OF},
            "data": {"nats.conf": nats_conf(catalog, tls)}}


def nats(catalog):
    secret = lambda key: {"valueFrom": {"secretKeyRef": {"name": NATS_USERS_SECRET, "key": key}}}
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           *({"name": f"NATS_PASSWORD_{name.upper()}", **secret(name)} for name in catalog.nats_services),
           {"name": "NATS_ROUTE_PASSWORD", **secret("route")},
           *({"name": f"NATS_ROUTE_{i}", "value": f"nats://route:$(NATS_ROUTE_PASSWORD)@nats-{i}.nats:6222"}
             for i in range(NATS_REPLICAS))]
    # Lame duck: the server stops taking clients and moves its own off over NATS_LAME_DUCK_SECONDS, then exits by
    # itself; SIGTERM, which the kubelet sends when this hook returns, is ignored once it is in that mode. The hook
    # waits out the whole spell so that SIGTERM cannot arrive before the mode has begun.
    lame_duck = NATS_LAME_DUCK_GRACE_SECONDS + NATS_LAME_DUCK_SECONDS
    container = secure_container({
        "name": "nats",
        "image": NATS_IMAGE,
        "args": ["--config", "/etc/nats/nats.conf"],
        "env": env,
        "ports": [{"name": "client", "containerPort": 4222}, {"name": "cluster", "containerPort": 6222},
                  {"name": "monitor", "containerPort": 8222}],
        "readinessProbe": {"httpGet": {"path": "/healthz?js-enabled-only=true", "port": "monitor"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz?js-enabled-only=true", "port": "monitor"}, "periodSeconds": 15,
                          "failureThreshold": 5},
        "lifecycle": {"preStop": {"exec": {"command": [
            "/bin/sh", "-c", f"nats-server --signal ldm={NATS_PID_FILE} && sleep {lame_duck + 5}"]}}},
        "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/nats"}, {"name": "data", "mountPath": "/data"},
                         {"name": "run", "mountPath": "/var/run/nats"},
                         {"name": "tls", "mountPath": "/etc/nats-tls", "readOnly": True}],
    })
    clients = rule("from", pods(*catalog.nats_services), 4222)
    return [
        cluster_service("nats", 4222, "client", headless=True, extra_ports=[{"name": "cluster", "port": 6222, "targetPort": "cluster"}]),
        {
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "nats", "labels": labels("nats", "broker"),
                         "annotations": {"checkov.io/skip1": "CKV_K8S_43=a pinned upstream tag; mirror it by digest in a private registry",
                                         "checkov.io/skip2": ENV_SECRETS_SKIP}},
            "spec": {
                "serviceName": "nats", "replicas": NATS_REPLICAS, "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": {"app": "nats"}},
                "template": {
                    "metadata": {"labels": labels("nats", "broker")},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "terminationGracePeriodSeconds": NATS_TERMINATION_SECONDS,
                        "securityContext": pod_security(fs_group=10001),
                        "topologySpreadConstraints": spread("nats", "DoNotSchedule"),
                        "containers": [container],
                        # The overlay's nats-config decides whether TLS is on; without it the Secret need not exist.
                        "volumes": [{"name": "config", "configMap": {"name": "nats-config"}}, {"name": "run", "emptyDir": {}},
                                    {"name": "tls", "secret": {"secretName": NATS_TLS_SECRET, "optional": True}}],
                    },
                },
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                    "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}],
            },
        },
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "nats", "labels": PART_OF},
         "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "nats"}}}},
        # Clients are the services that publish or consume events (never the web front end), and the servers' peers.
        network_policy("nats", [clients, rule("from", pods("nats"), 6222)], [DNS, rule("to", pods("nats"), 6222)]),
    ]

