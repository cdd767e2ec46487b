"""The restricted Pod Security Standard (pod-security): enforced on the namespace, met by every pod."""
from .objects import NAMESPACE
from .report import fail

RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}


def check_pod_security(overlay):
    labels = overlay.namespace_labels(NAMESPACE)
    for mode in ("enforce", "audit", "warn"):
        if labels.get(f"pod-security.kubernetes.io/{mode}") != "restricted":
            fail("pod-security", f"{overlay.name}: namespace {NAMESPACE} lacks pod-security.kubernetes.io/{mode}: restricted")
    for w in overlay.workloads:
        spec, pod = w.spec, w.spec.get("securityContext") or {}
        problems = [f for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f)]
        problems += [f"volume {v['name']}" for v in spec.get("volumes", []) if not set(v) - {"name"} <= RESTRICTED_VOLUMES]
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            context = c.get("securityContext") or {}
            if context.get("privileged"):
                problems.append(f"{c['name']}: privileged")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{c['name']}: allowPrivilegeEscalation is not false")
            capabilities = context.get("capabilities") or {}
            if "ALL" not in capabilities.get("drop", []) or set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
                problems.append(f"{c['name']}: capabilities are not drop ALL")
            if not context.get("runAsNonRoot", pod.get("runAsNonRoot")):
                problems.append(f"{c['name']}: runAsNonRoot is not true")
            if context.get("runAsUser", pod.get("runAsUser")) == 0:
                problems.append(f"{c['name']}: runs as user 0")
            seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append(f"{c['name']}: no RuntimeDefault seccomp profile")
            if any(p.get("hostPort") for p in c.get("ports", [])):
                problems.append(f"{c['name']}: host port")
        for problem in problems:
            fail("pod-security", f"{overlay.name}: {w} breaks the restricted profile: {problem}")

