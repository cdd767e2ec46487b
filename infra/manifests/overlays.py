"""What the dev and prod overlays set apart: the services' configuration, the Ingress (the catalog's path table) and
the ingress controller's trust in forwarded headers."""
from .settings import COLLECTOR, COLLECTOR_OTLP_PORT, INTERNAL_DOOR, NATS_REPLICAS, PART_OF, TRUSTED_PROXY_CIDRS


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
        # The collector of these manifests, which forwards to the overlay's backend (collector.py); that this is set
        # is also what turns sampling on (Telemetry.swift). Only OTLP/HTTP: the binary speaks no gRPC.
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{COLLECTOR}:{COLLECTOR_OTLP_PORT}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }}


# /metrics, /healthz and /readyz are not the ingress's to route (CONTRACT.md section 1), yet they sit under the web
# rule's "/" prefix. No Ingress rule can refuse a path: an Exact rule needs a backend that answers 404, and every service
# here serves all three; a deny snippet needs snippet annotations, which ingress-nginx disables by default (they let an
# Ingress inject configuration). The services refuse them instead: each answers 404 to the three when the request
# carries X-Forwarded-For, which ingress-nginx always sets and kubelet probes and Prometheus scrapes of a pod never do.
def ingress(catalog, host, tls):
    rules = [{"path": route, "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"number": 80}}}}
             for name, routes in catalog.routes.items() for route in routes]
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

