"""The fixed facts of the deployment that are not the services' own (those come from `ticketing services --json`, see
infra/catalog.py): images, names, ports, the NATS cluster's shape, the trace backends, the peers outside the namespace,
checkov's skips."""
IMAGE = "ticketing"
# Where the image keeps the binary (its ENTRYPOINT); the migrations initContainer names it.
BINARY = "/app/ticketing"
NATS_IMAGE = "nats:2.10.22-alpine"
POSTGRES_IMAGE = "postgres:16.4-bookworm"
# Runs as any non-root user and keeps no state, so the door needs no image of its own.
NGINX_IMAGE = "nginxinc/nginx-unprivileged:1.27.3-alpine"
# contrib, not the core distribution, which lacks the health_check extension the probes ask.
COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib:0.115.1"
NAMESPACE = "ticketing"
PART_OF = {"app.kubernetes.io/part-of": "ticketing"}
# The port every service serves its API, /healthz, /readyz and /metrics on.
SERVICE_PORT = 8080
# The web front end's way to the API inside the cluster (see internal_door).
INTERNAL_DOOR = "internal-door"
# The OpenTelemetry Collector every service sends its spans to over OTLP/HTTP (the binary speaks no gRPC), and where
# its health_check extension answers the probes.
COLLECTOR = "otel-collector"
COLLECTOR_OTLP_PORT = 4318
COLLECTOR_HEALTH_PORT = 13133
NATS_REPLICAS = 3
# Secrets the deployment reads and never holds (README, "Deploying"). nats-users: one password per service with
# events (the catalog's nats_services), under the service's name, and "route" for the servers' own cluster links.
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
# Stripe's API (and a hosted trace backend) has no fixed addresses: anywhere on the internet, never the cluster's own or the cloud's metadata.
INTERNET = [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                                                       "100.64.0.0/10", "127.0.0.0/8"]}},
            {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10", "::1/128"]}}]
# Jaeger in namespace "monitoring" (the dev overlay's trace backend), its pods as the Jaeger Helm chart (release
# "jaeger") and the Jaeger Operator (an all-in-one instance "jaeger") label them; it takes OTLP/HTTP on 4318.
JAEGER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
          "podSelector": {"matchLabels": {"app.kubernetes.io/name": "jaeger"}}}
# Where each overlay's collector forwards the traces (OTLP/HTTP; the exporter adds /v1/traces), and the peer its
# NetworkPolicy lets it reach there. Prod's is a placeholder: replace it with your backend's endpoint and, when that
# backend is in the cluster, the peer with its pods' labels. Outside the cluster, only over TLS.
TRACE_BACKENDS = {
    "dev": ("http://jaeger-collector.monitoring.svc:4318", JAEGER),
    "prod": ("https://traces.replace-me.example.com", INTERNET),
}
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

