"""Each service's Deployment (with the initContainer that migrates its database first), its NetworkPolicy, and its
broker account as a client sees it. Which services have a database, routes or events comes from the catalog."""
from .network import DNS, network_policy, pods, rule
from .objects import labels, pod_security, secure_container, spread
from .settings import (BINARY, COLLECTOR, COLLECTOR_OTLP_PORT, IMAGE, IMAGE_SKIPS, INGRESS_CONTROLLER, INTERNAL_DOOR,
                       INTERNET, NATS_REPLICAS, NATS_TLS_SECRET, NATS_USERS_SECRET, PROMETHEUS, SERVICE_PORT)

RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


def nats_client(name):
    """A service's broker account: its own user, its password from the Secret, every server of the cluster."""
    # Kubernetes expands $(NATS_PASSWORD) from the entry before; the password must therefore be URL-safe (hex).
    servers = ",".join(f"nats://{name}:$(NATS_PASSWORD)@nats-{i}.nats:4222" for i in range(NATS_REPLICAS))
    env = [{"name": "NATS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": NATS_USERS_SECRET, "key": name}}},
           {"name": "NATS_URL", "value": servers},
           # libnats switches to TLS when the server asks for it (the prod overlay) and checks the server's certificate
           # against OpenSSL's default trust file, which this names; nothing else in the process uses OpenSSL.
           {"name": "SSL_CERT_FILE", "value": "/etc/nats-ca/ca.crt"}]
    # Optional: without TLS (the dev overlay) there is no such Secret, and no certificate to check.
    volume = {"name": "nats-ca", "secret": {"secretName": NATS_TLS_SECRET, "optional": True,
                                            "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
    return env, volume, {"name": "nats-ca", "mountPath": "/etc/nats-ca", "readOnly": True}



def migrations(name, container):
    """Runs `ticketing migrate NAME` before the service starts, once per pod start, as the service's own container
    would run it: same image, configuration, secrets, volumes and security context. `serve` no longer migrates. On
    PostgreSQL the migrations take an advisory lock, so replicas starting together take turns."""
    return secure_container({
        "name": "migrate",
        "image": container["image"],
        "command": [BINARY, "migrate", name],
        "envFrom": container["envFrom"],
        "env": container["env"],
        "resources": container["resources"],
        "volumeMounts": container["volumeMounts"],
    })


def service_deployment(catalog, name):
    env = [
        {"name": "JWT_KEY", "valueFrom": {"secretKeyRef": {"name": "jwt-secret", "key": "JWT_KEY"}}},
    ]
    volumes = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    has_database = name in catalog.database_services
    if has_database:
        env.append({"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": f"{name}-db", "key": "url"}}})
    if name == "payments":
        env.append({"name": "STRIPE_KEY", "valueFrom": {"secretKeyRef": {"name": "stripe-secret", "key": "STRIPE_KEY"}}})
    if name == "tickets":
        # Every replica signs passes with the same Ed25519 key, so a pass verifies whichever replica a door asks.
        env.append({"name": "PASS_SIGNING_KEY", "valueFrom": {"secretKeyRef": {"name": "pass-signing-key", "key": "PASS_SIGNING_KEY"}}})
    if name in catalog.nats_services:
        nats_env, volume, mount = nats_client(name)
        env += nats_env
        volumes.append(volume)
        mounts.append(mount)
    container = secure_container({
        "name": name,
        "image": IMAGE,
        "args": ["serve", name, "--hostname", "0.0.0.0", "--port", str(SERVICE_PORT)],
        "ports": [{"name": "http", "containerPort": SERVICE_PORT}],
        "envFrom": [{"configMapRef": {"name": "ticketing-config"}}],
        "env": env,
        # /readyz is what serving needs (the database), never the broker: the outbox keeps writes working through a
        # broker outage, and pods leaving their Service then would make it a full one. /healthz is the process alone;
        # a failing dependency must never restart pods. Migrations are over before this container starts (the
        # initContainer), so the startup budget (120 s) is the service's own start.
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "failureThreshold": 3},
        "startupProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2, "failureThreshold": 60},
        # Out of the endpoints before the service starts draining: listeners stop, the outbox gets a last pass.
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/sleep", "5"]}}},
        "resources": RESOURCES,
        "volumeMounts": mounts,
    })
    pod = {
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "securityContext": pod_security(),
        "topologySpreadConstraints": spread(name),
        **({"initContainers": [migrations(name, container)]} if has_database else {}),
        "containers": [container],
        "volumes": volumes,
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels(name, "service"), "annotations": IMAGE_SKIPS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                # For Prometheus configured to discover pods by annotation; the NetworkPolicy lets it in (PROMETHEUS).
                "metadata": {"labels": labels(name, "service"), "annotations": {
                    "prometheus.io/scrape": "true", "prometheus.io/port": str(SERVICE_PORT), "prometheus.io/path": "/metrics"}},
                "spec": pod,
            },
        },
    }


def service_policy(catalog, name):
    # The services believe X-Real-IP (the per-address limits), so only the hops that set it honestly reach them: the
    # ingress controller (the visitor's address) and the internal door (what the web, reachable only from the
    # controller, passed on). Prometheus, also trusted, sends none.
    ingress = [rule("from", PROMETHEUS, SERVICE_PORT)]
    if name in catalog.routes:
        ingress.append(rule("from", INGRESS_CONTROLLER, SERVICE_PORT))
    if name in catalog.api_services:
        ingress.append(rule("from", pods(INTERNAL_DOOR), SERVICE_PORT))
    # Spans go to the collector alone; it is the one that reaches the trace backend.
    egress = [DNS, rule("to", pods(COLLECTOR), COLLECTOR_OTLP_PORT)]
    if name in catalog.nats_services:
        egress.append(rule("to", pods("nats"), 4222))
    if name in catalog.database_services:
        egress.append(rule("to", pods(f"{name}-db"), 5432))
    if name == "payments":
        egress.append(rule("to", INTERNET, 443))
    if name == "web":
        egress.append(rule("to", pods(INTERNAL_DOOR), SERVICE_PORT))
    return network_policy(name, ingress, egress)
