#!/usr/bin/env python3
"""Writes the Kubernetes manifests in infra/k8s, infra/k8s-dev and infra/k8s-prod from one description of the system,
so the six services' manifests cannot drift apart. Run it after changing this file; `--check` (run by
scripts/validate-infra) fails when the committed manifests differ from what it would write."""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent
# The services with a database each, then the ones without. The contract's path table routes the ingress.
DATABASE_SERVICES = ["auth", "tickets", "orders", "expiration", "payments"]
SERVICES = DATABASE_SERVICES + ["web"]
ROUTES = {"auth": "/api/users", "tickets": "/api/tickets", "orders": "/api/orders", "payments": "/api/payments", "web": "/"}
API_SERVICES = [name for name in ROUTES if name != "web"]
# What each service may publish (asyncapi.yaml's senders): no pod can announce another service's events, so a
# compromised tickets pod cannot publish payment:created. The web front end has no broker account at all.
PUBLISHES = {"auth": ["session:revoked"], "tickets": ["ticket:created", "ticket:updated"],
             "orders": ["order:created", "order:cancelled"], "expiration": ["expiration:complete"],
             "payments": ["payment:created"]}
NATS_SERVICES = list(PUBLISHES)
IMAGE = "ticketing"
NATS_IMAGE = "nats:2.10.22-alpine"
POSTGRES_IMAGE = "postgres:16.4-bookworm"
# Runs as any non-root user and keeps no state, so the door needs no image of its own.
NGINX_IMAGE = "nginxinc/nginx-unprivileged:1.27.3-alpine"
NAMESPACE = "ticketing"
PART_OF = {"app.kubernetes.io/part-of": "ticketing"}
# The port every service serves its API, /healthz, /readyz and /metrics on.
SERVICE_PORT = 8080
# The web front end's way to the API inside the cluster (see internal_door).
INTERNAL_DOOR = "internal-door"
NATS_REPLICAS = 3
# Secrets the deployment reads and never holds (README, "Deploying"). nats-users: one password per NATS_SERVICES
# entry, under the service's name, and "route" for the servers' own cluster links.
NATS_USERS_SECRET = "nats-users"
NATS_TLS_SECRET = "nats-tls"
NATS_PID_FILE = "/var/run/nats/nats.pid"
# nats-server refuses a lame-duck duration under 30 s. It waits the grace period before it starts moving clients.
NATS_LAME_DUCK_SECONDS = 30
NATS_LAME_DUCK_GRACE_SECONDS = 10
NATS_TERMINATION_SECONDS = 60

# The peers this deployment trusts from outside its namespace; the cluster must label them so.
# ingress-nginx's controller pods, as its official manifests and Helm chart label them.
INGRESS_CONTROLLER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                      "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx",
                                                      "app.kubernetes.io/component": "controller"}}}
# Prometheus in namespace "monitoring", as kube-prometheus-stack and the Prometheus Operator label its pods.
PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
              "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
CLUSTER_DNS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
               "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
# Stripe's API has no fixed addresses: anywhere on the internet, never the cluster's own or the cloud's metadata.
INTERNET = [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                                                       "100.64.0.0/10", "127.0.0.0/8"]}},
            {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10", "::1/128"]}}]
# The addresses of a load balancer in front of ingress-nginx that speaks HTTP and sets X-Forwarded-For. Empty for a
# TCP load balancer that keeps the visitor's address (the controller's Service with externalTrafficPolicy: Local):
# then the controller believes no header and takes the visitor's address from the connection.
TRUSTED_PROXY_CIDRS = []
# The services read secrets from their environment (CONTRACT.md section 6), filled from Secrets, never from here.
ENV_SECRETS_SKIP = "CKV_K8S_35=secrets reach the process as environment variables by contract, from Kubernetes Secrets"
# Reasons for the checkov findings this deployment accepts, kept beside the manifests they concern.
IMAGE_SKIPS = {
    "checkov.io/skip1": "CKV_K8S_43=the image is pinned by skaffold at deploy time (it tags each build by digest)",
    "checkov.io/skip2": "CKV_K8S_14=same: the tag in the manifest is a placeholder skaffold replaces",
    "checkov.io/skip3": ENV_SECRETS_SKIP,
}


def labels(name, component):
    return {"app": name, "app.kubernetes.io/name": name, "app.kubernetes.io/component": component, **PART_OF}


def secure_container(container, user=10001):
    container["securityContext"] = {
        "runAsNonRoot": True, "runAsUser": user, "runAsGroup": user, "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
    }
    container["imagePullPolicy"] = "Always"
    return container


def pod_security(fs_group=None):
    context = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if fs_group:
        context["fsGroup"] = fs_group
    return context


def spread(name, when="ScheduleAnyway"):
    return [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": when,
             "labelSelector": {"matchLabels": {"app": name}}}]


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


def service_deployment(name):
    env = [
        {"name": "JWT_KEY", "valueFrom": {"secretKeyRef": {"name": "jwt-secret", "key": "JWT_KEY"}}},
    ]
    volumes = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    if name in DATABASE_SERVICES:
        env.append({"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": f"{name}-db", "key": "url"}}})
    if name == "payments":
        env.append({"name": "STRIPE_KEY", "valueFrom": {"secretKeyRef": {"name": "stripe-secret", "key": "STRIPE_KEY"}}})
    if name in NATS_SERVICES:
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
        # a failing dependency must never restart pods. The startup budget (120 s) also covers waiting behind another
        # replica's migrations, which hold an advisory lock.
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "failureThreshold": 3},
        "startupProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2, "failureThreshold": 60},
        # Out of the endpoints before the service starts draining: listeners stop, the outbox gets a last pass.
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/sleep", "5"]}}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "volumeMounts": mounts,
    })
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
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security(),
                    "topologySpreadConstraints": spread(name),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def cluster_service(name, port, target, app=None, headless=False, extra_ports=()):
    spec = {"selector": {"app": app or name}, "ports": [{"name": "main", "port": port, "targetPort": target}, *extra_ports]}
    if headless:
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": PART_OF}, "spec": spec}


def pods(*apps):
    """Peers: this namespace's pods of the given apps."""
    return {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": list(apps)}]}}


def rule(direction, peers, *ports, protocol="TCP"):
    return {direction: peers if isinstance(peers, list) else [peers],
            "ports": [{"port": port, "protocol": protocol} for port in ports]}


DNS = {"to": [CLUSTER_DNS], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def network_policy(name, ingress, egress):
    """What may reach the app's pods, and what they may reach; anything else is refused (see default_deny)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "labels": PART_OF},
            "spec": {"podSelector": {"matchLabels": {"app": name}}, "policyTypes": ["Ingress", "Egress"],
                     "ingress": ingress, "egress": egress}}


def default_deny():
    # A pod that no other policy names (a debugging pod, a new app) gets no traffic either way until one does.
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "default-deny", "labels": PART_OF},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}


def service_policy(name):
    # The services believe X-Real-IP (the per-address limits), so only the hops that set it honestly reach them: the
    # ingress controller (the visitor's address) and the internal door (what the web, reachable only from the
    # controller, passed on). Prometheus, also trusted, sends none.
    ingress = [rule("from", PROMETHEUS, SERVICE_PORT)]
    if name in ROUTES:
        ingress.append(rule("from", INGRESS_CONTROLLER, SERVICE_PORT))
    if name in API_SERVICES:
        ingress.append(rule("from", pods(INTERNAL_DOOR), SERVICE_PORT))
    egress = [DNS]
    if name in NATS_SERVICES:
        egress.append(rule("to", pods("nats"), 4222))
    if name in DATABASE_SERVICES:
        egress.append(rule("to", pods(f"{name}-db"), 5432))
    if name == "payments":
        egress.append(rule("to", INTERNET, 443))
    if name == "web":
        egress.append(rule("to", pods(INTERNAL_DOOR), SERVICE_PORT))
    return network_policy(name, ingress, egress)


def disruption_budget(name):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "labels": PART_OF},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": name}}}}


def database(name):
    db = f"{name}-db"
    container = secure_container({
        "name": "postgres",
        "image": POSTGRES_IMAGE,
        "ports": [{"name": "postgres", "containerPort": 5432}],
        "env": [
            {"name": "POSTGRES_DB", "value": name},
            {"name": "POSTGRES_USER", "value": name},
            {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": db, "key": "password"}}},
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        "readinessProbe": {"exec": {"command": ["pg_isready", "-U", name, "-d", name]}, "periodSeconds": 5},
        "livenessProbe": {"exec": {"command": ["pg_isready", "-U", name, "-d", name]}, "periodSeconds": 15},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"},
                         {"name": "run", "mountPath": "/var/run/postgresql"}, {"name": "tmp", "mountPath": "/tmp"}],
    })
    statefulset = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": db, "labels": labels(db, "database"),
                     "annotations": {"checkov.io/skip1": "CKV_K8S_43=a pinned upstream tag; mirror it by digest in a private registry",
                                     "checkov.io/skip2": ENV_SECRETS_SKIP}},
        "spec": {
            "serviceName": db, "replicas": 1, "selector": {"matchLabels": {"app": db}},
            "template": {
                "metadata": {"labels": labels(db, "database")},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(fs_group=10001),
                    "containers": [container],
                    "volumes": [{"name": "run", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                },
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}],
        },
    }
    # Only the service that owns the database reaches it, and the database reaches nothing.
    policy = network_policy(db, [rule("from", pods(name), 5432)], [])
    return [statefulset, cluster_service(db, 5432, "postgres", headless=True), policy]


def nats_conf(tls):
    """nats-server's configuration, as JSON (which nats-server reads) so infra/check.py can read it exactly.
    "$NAME" strings are written bare: nats-server takes an undefined variable from its environment, which is how the
    passwords come from the Secret and never sit in the ConfigMap."""
    jetstream_api = [f"$JS.API.STREAM.{verb}.TICKETING" for verb in ("INFO", "CREATE", "UPDATE")]
    users = [{"user": name, "password": f"$NATS_PASSWORD_{name.upper()}", "permissions": {
        # Its own events; the stream it ensures at start; its consumers (created, bound, fetched from) and acks.
        # Deleting a consumer or the stream, or purging it, no service ever does.
        "publish": {"allow": [*PUBLISHES[name], *jetstream_api, "$JS.API.INFO", "$JS.API.CONSUMER.>", "$JS.ACK.TICKETING.>"],
                    "deny": ["$JS.API.CONSUMER.DELETE.>"]},
        # Replies (publish acknowledgements, API answers, fetched messages) come to the client's inbox.
        "subscribe": {"allow": ["_INBOX.>"]},
    }} for name in NATS_SERVICES]
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


def nats_config(tls):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nats-config", "labels": PART_OF},
            "data": {"nats.conf": nats_conf(tls)}}


def nats():
    secret = lambda key: {"valueFrom": {"secretKeyRef": {"name": NATS_USERS_SECRET, "key": key}}}
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           *({"name": f"NATS_PASSWORD_{name.upper()}", **secret(name)} for name in NATS_SERVICES),
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
    clients = rule("from", pods(*NATS_SERVICES), 4222)
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


def door_conf():
    """nginx for the internal door: the public door's API routes (ROUTES), and nothing else."""
    upstreams = "".join(f"  upstream {name} {{ server {name}:80; keepalive 16; }}\n" for name in API_SERVICES)
    locations = "".join(f"    location ~ ^{ROUTES[name]}(/|$) {{ proxy_pass http://{name}; }}\n" for name in API_SERVICES)
    return f"""worker_processes 1;
pid /tmp/nginx.pid;
error_log /dev/stderr warn;
events {{ worker_connections 1024; }}
http {{
  access_log /dev/stdout;
  client_body_temp_path /tmp/client_body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  client_max_body_size 1m;
  server_tokens off;
{upstreams}  server {{
    listen {SERVICE_PORT};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    # The visitor's address, as the web pod sends it (the ingress controller's X-Real-IP): kept, never replaced.
    proxy_set_header X-Real-IP $http_x_real_ip;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_next_upstream error timeout;
    error_page 502 504 =503 /_errors/503;
    location = /_errors/503 {{
      internal; default_type application/json;
      return 503 '{{"errors":[{{"message":"Service unavailable"}}]}}';
    }}
    location = /healthz {{ access_log off; default_type text/plain; return 200 "ok\\n"; }}
{locations}    location / {{ default_type application/json; return 404 '{{"errors":[{{"message":"Not Found"}}]}}'; }}
  }}
}}
"""


# The web front end calls the API with one base URL (TICKETING_API_URL) and passes the visitor's address in
# X-Real-IP. The ingress cannot take those calls: its rules match only the public host, and it replaces X-Real-IP with
# its peer, the web pod. So, as the local stack does (scripts/lib/stack.sh), a second door routes the API paths inside
# the cluster, keeps the header, and takes requests from the web pods only.
def internal_door():
    container = secure_container({
        "name": "nginx",
        "image": NGINX_IMAGE,
        "command": ["nginx", "-c", "/etc/nginx/door/nginx.conf", "-e", "/dev/stderr"],
        "ports": [{"name": "http", "containerPort": SERVICE_PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/nginx/door", "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    })
    name = INTERNAL_DOOR
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-config", "labels": PART_OF},
         "data": {"nginx.conf": door_conf()}},
        {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels(name, "router"),
                         "annotations": {"checkov.io/skip1": "CKV_K8S_43=a pinned upstream tag; mirror it by digest in a private registry"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": labels(name, "router")},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(),
                        "topologySpreadConstraints": spread(name),
                        "containers": [container],
                        "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}},
                                    {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                    },
                },
            },
        },
        cluster_service(name, 80, "http"),
        disruption_budget(name),
        network_policy(name, [rule("from", pods("web"), SERVICE_PORT)],
                       [DNS, rule("to", pods(*API_SERVICES), SERVICE_PORT)]),
    ]


def config(cookie_secure):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ticketing-config", "labels": PART_OF}, "data": {
        "NATS_STREAM_REPLICAS": str(NATS_REPLICAS),
        "EXPIRATION_WINDOW_SECONDS": "900",
        "COOKIE_SECURE": cookie_secure,
        "STRIPE_API_BASE": "https://api.stripe.com",
        "STRIPE_JS_URL": "https://js.stripe.com/v3/",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_replace_me",
        "TICKETING_API_URL": f"http://{INTERNAL_DOOR}",
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
    }}


# /metrics, /healthz and /readyz are not the ingress's to route (CONTRACT.md section 1), yet they sit under the web
# rule's "/" prefix. No Ingress rule can refuse a path: an Exact rule needs a backend that answers 404, and every service
# here serves all three; a deny snippet needs snippet annotations, which ingress-nginx disables by default (they let an
# Ingress inject configuration). The services refuse them instead: each answers 404 to the three when the request
# carries X-Forwarded-For, which ingress-nginx always sets and kubelet probes and Prometheus scrapes of a pod never do.
def ingress(host, tls):
    rules = [{"path": ROUTES[name], "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"number": 80}}}}
             for name in ["auth", "tickets", "orders", "payments", "web"]]
    spec = {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": rules}}]}
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": "ticketing-tls"}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "ticketing", "labels": PART_OF,
                         "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "1m"}},
            "spec": spec}


# ingress-nginx sets X-Real-IP to the address it believes, and the services count sign-ins by it. It must believe a
# forwarded header only from the load balancer in front of it, never from a visitor: ingress-nginx's own default for
# the trusted range, once headers are believed at all, is 0.0.0.0/0. These keys go into the controller's ConfigMap
# (with Helm, its controller.config instead).
def ingress_controller_config():
    trust = bool(TRUSTED_PROXY_CIDRS)
    data = {"use-forwarded-headers": str(trust).lower(), "compute-full-forwarded-for": "false",
            "use-proxy-protocol": "false", "enable-real-ip": "false"}
    if trust:
        data["proxy-real-ip-cidr"] = ",".join(TRUSTED_PROXY_CIDRS)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx", "labels": PART_OF},
            "data": data}


def namespace():
    # Pod Security Admission refuses any pod of the namespace that breaks the restricted profile, and says so.
    security = {f"pod-security.kubernetes.io/{mode}{suffix}": value
                for mode in ("enforce", "audit", "warn") for suffix, value in (("", "restricted"), ("-version", "v1.31"))}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": {**PART_OF, **security}}}


def manifests():
    shared = {}
    for name in SERVICES:
        shared[f"{name}.yaml"] = [service_deployment(name), cluster_service(name, 80, "http"), disruption_budget(name),
                                  service_policy(name)]
    for name in DATABASE_SERVICES:
        shared[f"{name}-db.yaml"] = database(name)
    shared["nats.yaml"] = nats()
    shared[f"{INTERNAL_DOOR}.yaml"] = internal_door()
    # First in file order, so that `kubectl apply` of the folder creates it before what lives in it.
    shared["00-namespace.yaml"] = [namespace(), default_deny()]
    return {
        "k8s": shared,
        "k8s-dev": {"config.yaml": [config("false")], "nats-config.yaml": [nats_config(tls=False)],
                    "ingress.yaml": [ingress("ticketing.dev", tls=False)]},
        "k8s-prod": {"config.yaml": [config("true")], "nats-config.yaml": [nats_config(tls=True)],
                     "ingress.yaml": [ingress("ticketing.example.com", tls=True)],
                     "ingress-nginx.yaml": [ingress_controller_config()]},
    }


def render(documents):
    for document in documents:
        if document["kind"] != "Namespace":
            document["metadata"].setdefault("namespace", NAMESPACE)
    # JSON is YAML: exact, unambiguous, and needs no library here.
    header = "# Generated by infra/generate.py; edit that file, not this one.\n"
    return header + "---\n".join(json.dumps(document, indent=2) + "\n" for document in documents)


def main():
    check = "--check" in sys.argv
    stale = []
    for directory, files in manifests().items():
        (ROOT / directory).mkdir(exist_ok=True)
        for name, documents in files.items():
            path = ROOT / directory / name
            text = render(documents)
            if check:
                if not path.exists() or path.read_text() != text:
                    stale.append(str(path.relative_to(ROOT.parent)))
            else:
                path.write_text(text)
    if stale:
        print("infra: manifests differ from infra/generate.py; run it and commit:", *stale, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
