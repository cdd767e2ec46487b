"""The small pieces every workload is made of: labels, the hardened container and pod security contexts, topology
spread, a Service, a PodDisruptionBudget."""
from .settings import PART_OF


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


def cluster_service(name, port, target, app=None, headless=False, extra_ports=()):
    spec = {"selector": {"app": app or name}, "ports": [{"name": "main", "port": port, "targetPort": target}, *extra_ports]}
    if headless:
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": PART_OF}, "spec": spec}


def disruption_budget(name):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "labels": PART_OF},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": name}}}}



def upstream_deployment(name, component, container, volumes):
    """Two replicas of a stateless pod from a pinned upstream image (the internal door, the trace collector), rolled
    one at a time with none taken down first, spread over nodes, hardened like the services."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels(name, component),
                     "annotations": {"checkov.io/skip1": "CKV_K8S_43=a pinned upstream tag; mirror it by digest in a private registry"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(name, component)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "topologySpreadConstraints": spread(name),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
