"""The NetworkPolicies allow exactly the connections the pods' configuration calls for, both ways (network,
nats-network, prometheus, visitor-address, tracing)."""
import re

from .policy import allowed, allowed_one_way, endpoints, policy_types
from .objects import selects
from .report import fail
from .routing import target_pods_and_port


def check_network(overlay, route, nats_clients, traces):
    """Every connection the policies allow must be one the configuration calls for, and each of those allowed.
    traces: the spans' way, [(source, destination, port)], as check_tracing finds it in the configuration."""
    inside, outside = endpoints(overlay)
    by_name = {e.name: e for e in inside + outside}
    must, may = set(), set()

    def expect(source, destination, port, protocol="TCP", check="network"):
        must.add((source, destination, port, protocol, check))

    for e in inside:
        may |= {(e.name, "cluster DNS", 53, p) for p in ("UDP", "TCP")}
    nats = overlay.workload("nats")
    for client in nats_clients:
        expect(client.name, "nats", 4222, check="nats-network")
    if nats:
        expect("nats", "nats", 6222, check="nats-network")
    for source, destination, port in traces:
        expect(source, destination, port, check="tracing")
    # Failures about the collector's traffic are tracing's, even when no service names it.
    collectors = {destination for _, destination, _ in traces} | {
        e.name for e in inside if e.labels.get("app.kubernetes.io/component") == "collector"}
    for w in overlay.workloads:
        env = w.all_env()
        database = re.fullmatch(r"<secret:(.+)\|url>", env.get("DATABASE_URL", ""))
        if database:
            owner = next((s for s in overlay.of_kind("Service") if s["metadata"]["name"] == database.group(1)), None)
            for pod in (overlay.service_pods(owner) if owner else []):
                expect(w.name, pod.name, 5432)
        if "STRIPE_KEY" in env:
            expect(w.name, "the internet", 443)
        if w.labels.get("app.kubernetes.io/component") == "service":
            port = int(w.annotations.get("prometheus.io/port") or w.port_named("http") or 0)
            expect("prometheus", w.name, port, check="prometheus")
    for ingress in overlay.of_kind("Ingress"):
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = overlay.find("Service", path["backend"]["service"]["name"])
                pods, port = target_pods_and_port(overlay, backend, path["backend"]["service"]["port"]["number"]) if backend else ([], None)
                for pod in pods:
                    expect("ingress controller", pod.name, port, check="visitor-address")
    if route:
        web, routers, port, backends = route
        for router in routers:
            expect(web.name, router.name, port, check="visitor-address")
            for service in backends.values():
                pods, target = target_pods_and_port(overlay, service, 80)
                for pod in pods:
                    expect(router.name, pod.name, target, check="visitor-address")
    required = {(s, d, p, proto) for s, d, p, proto, _ in must}
    for source, destination, port, protocol, check in sorted(must, key=str):
        if not allowed(overlay, by_name[source], by_name[destination], port, protocol):
            fail(check, f"{overlay.name}: {source} cannot reach {destination}:{port}/{protocol}, which it needs")
    # Each side on its own: a pod's ingress rules must not lean on its peers' egress rules, nor the other way round.
    for source in inside + outside:
        for destination in inside + outside:
            for port, protocol in destination.ports:
                key = (source.name, destination.name, port, protocol)
                if key in required or key in may:
                    continue
                check = "nats-network" if destination.name == "nats" and port == 4222 else (
                    "tracing" if collectors & {source.name, destination.name} else
                    "visitor-address" if destination.workload and port == 8080 else "network")
                if destination.workload and allowed_one_way(overlay, destination, source, port, protocol, "Ingress", destination):
                    fail(check, f"{overlay.name}: {destination} admits {source} on {port}/{protocol}, which nothing calls for")
                if source.workload and allowed_one_way(overlay, source, destination, port, protocol, "Egress", destination):
                    fail(check, f"{overlay.name}: {source} may send to {destination}:{port}/{protocol}, which nothing calls for")
    for w in inside:
        for direction in ("Ingress", "Egress"):
            if not any(direction in policy_types(p) and selects(p["spec"].get("podSelector", {}), w.labels)
                       for p in overlay.of_kind("NetworkPolicy") if p["metadata"]["namespace"] == w.namespace):
                fail("network", f"{overlay.name}: no NetworkPolicy limits {direction.lower()} of {w}")

