"""NetworkPolicy semantics: which connections between the namespace's pods and the peers outside it the policies allow.
Peers outside the namespace are modelled by the labels the deployment documents (README, "Deploying")."""
import ipaddress

from .objects import selects

OUTSIDE = {
    "ingress controller": {"namespace": "ingress-nginx",
                           "labels": {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
                           "ports": [(80, "TCP"), (443, "TCP")]},
    "prometheus": {"namespace": "monitoring", "labels": {"app.kubernetes.io/name": "prometheus"}, "ports": [(9090, "TCP")]},
    "cluster DNS": {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ports": [(53, "UDP"), (53, "TCP")]},
    # The dev overlay's trace backend; "services" are the Service names the cluster gives it (checks/tracing.py).
    "jaeger": {"namespace": "monitoring", "labels": {"app.kubernetes.io/name": "jaeger"}, "services": ["jaeger-collector"],
               "ports": [(4318, "TCP")]},
    "a pod of another namespace": {"namespace": "elsewhere", "labels": {"app": "web"},
                                   "ports": [(80, "TCP"), (8080, "TCP"), (4222, "TCP"), (4318, "TCP")]},
    "the internet": {"ip": "203.0.113.7", "ports": [(443, "TCP"), (80, "TCP")]},
    "the cloud's metadata service": {"ip": "169.254.169.254", "ports": [(80, "TCP")]},
    "a private address outside the cluster's pods": {"ip": "10.200.0.9", "ports": [(443, "TCP"), (5432, "TCP")]},
}


class Endpoint:
    """A pod of the namespace (a workload) or a peer outside it."""

    def __init__(self, name, namespace=None, labels=None, ip=None, workload=None, ports=()):
        self.name, self.namespace, self.labels, self.ip, self.workload = name, namespace, labels or {}, ip, workload
        self.ports = list(ports)

    def __repr__(self):
        return self.name


def endpoints(overlay):
    inside = [Endpoint(w.name, w.namespace, w.labels, workload=w, ports=w.ports()) for w in overlay.workloads]
    outside = [Endpoint(name, peer.get("namespace"), peer.get("labels"), ip=peer.get("ip"), ports=peer["ports"])
               for name, peer in OUTSIDE.items()]
    return inside, outside


def peer_matches(peer, endpoint, policy_namespace, overlay):
    if "ipBlock" in peer:
        if endpoint.ip is None:
            return False  # pod addresses are never relied on here; rules name pods by label
        address = ipaddress.ip_address(endpoint.ip)
        block = peer["ipBlock"]
        network = ipaddress.ip_network(block["cidr"])
        if address.version != network.version or address not in network:
            return False
        return not any(address in ipaddress.ip_network(e) for e in block.get("except", [])
                       if ipaddress.ip_network(e).version == address.version)
    if endpoint.ip is not None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], overlay.namespace_labels(endpoint.namespace)):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], endpoint.labels)


def port_matches(entries, port, protocol, target):
    if not entries:
        return True
    for entry in entries:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            wanted = target.workload.port_named(wanted) if target.workload else None
        if wanted is not None and wanted <= port <= entry.get("endPort", wanted):
            return True
    return False


def policy_types(policy):
    spec = policy["spec"]
    return spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))


def allowed_one_way(overlay, subject, other, port, protocol, direction, destination):
    """Whether the policies of `subject`'s namespace let it receive from (Ingress) or send to (Egress) `other`."""
    if subject.workload is None:
        return True  # not this deployment's to decide
    relevant = [p for p in overlay.of_kind("NetworkPolicy") if p["metadata"]["namespace"] == subject.namespace
                and selects(p["spec"].get("podSelector", {}), subject.labels) and direction in policy_types(p)]
    if not relevant:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in relevant:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(peer_matches(p, other, subject.namespace, overlay) for p in peers)) \
                    and port_matches(rule.get("ports"), port, protocol, destination):
                return True
    return False


def allowed(overlay, source, destination, port, protocol="TCP"):
    return (allowed_one_way(overlay, source, destination, port, protocol, "Egress", destination)
            and allowed_one_way(overlay, destination, source, port, protocol, "Ingress", destination))

