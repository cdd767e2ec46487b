"""Each service's PostgreSQL: a StatefulSet only its service can reach, and its headless Service."""
from .network import network_policy, pods, rule
from .objects import cluster_service, labels, pod_security, secure_container
from .settings import ENV_SECRETS_SKIP, POSTGRES_IMAGE


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
