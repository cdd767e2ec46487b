"""NetworkPolicies: their peers and rules."""
from .settings import CLUSTER_DNS, PART_OF


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

