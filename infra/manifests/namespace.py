"""The namespace, with the restricted Pod Security Standard enforced, and its default-deny NetworkPolicy."""
from .settings import NAMESPACE, PART_OF


def namespace():
    # Pod Security Admission refuses any pod of the namespace that breaks the restricted profile, and says so.
    security = {f"pod-security.kubernetes.io/{mode}{suffix}": value
                for mode in ("enforce", "audit", "warn") for suffix, value in (("", "restricted"), ("-version", "v1.31"))}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": {**PART_OF, **security}}}


def default_deny():
    # A pod that no other policy names (a debugging pod, a new app) gets no traffic either way until one does.
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "default-deny", "labels": PART_OF},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
