"""NetworkPolicies: their peers and rules."""
from .settings import CLUSTER_DNS, PART_OF


def pods(*apps):
    """Peers: this namespace's pods of the given apps."""
    return {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": list(apps)}]}}


def rule(direction, peers, *ports, protocol="TCP"):
    return {direction: peers if isinstance(peers, list) else [peers],
            "ports": [{"port": port, "protocol": protocol} for port in ports]}


DNS = {"to": [CLUSTER_DNS], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def network_policy(name, ingress, egress, app=None):
    """What may reach the app's pods, and what they may reach; anything else is refused (see default_deny). None for
    ingress or egress leaves that direction to the app's other policies (they add up)."""
    directions = {"Ingress": ingress, "Egress": egress}
    spec = {"podSelector": {"matchLabels": {"app": app or name}},
            "policyTypes": [direction for direction, rules in directions.items() if rules is not None]}
    spec.update({direction.lower(): rules for direction, rules in directions.items() if rules is not None})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "labels": PART_OF},
            "spec": spec}

