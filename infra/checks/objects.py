"""The manifests as objects: an overlay (the shared manifests and one overlay's), its workloads and their containers'
environment, ports and mounted files, and label selectors."""
import re

import yaml

NAMESPACE = "ticketing"


class Overlay:
    def __init__(self, root, name):
        self.name = name
        self.objects = []
        for directory in ("k8s", f"k8s-{name}"):
            for path in sorted((root / "infra" / directory).glob("*.yaml")):
                self.objects += [o for o in yaml.safe_load_all(path.read_text()) if o]
        for o in self.objects:
            o["metadata"].setdefault("namespace", NAMESPACE if o["kind"] != "Namespace" else None)
        self.workloads = [Workload(o, self) for o in self.objects if o["kind"] in ("Deployment", "StatefulSet")]

    def find(self, kind, name, namespace=NAMESPACE):
        return next((o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name
                     and o["metadata"]["namespace"] == namespace), None)

    def of_kind(self, kind):
        return [o for o in self.objects if o["kind"] == kind]

    def namespace_labels(self, namespace):
        found = self.find("Namespace", namespace, None)
        return {"kubernetes.io/metadata.name": namespace, **((found or {}).get("metadata", {}).get("labels") or {})}

    def workload(self, name):
        return next((w for w in self.workloads if w.name == name), None)

    def service_pods(self, service):
        selector = {"matchLabels": service["spec"].get("selector") or {}}
        return [w for w in self.workloads if w.namespace == service["metadata"]["namespace"]
                and service["spec"].get("selector") and selects(selector, w.labels)]


class Workload:
    def __init__(self, obj, overlay):
        self.obj = obj
        self.overlay = overlay
        self.name = obj["metadata"]["name"]
        self.namespace = obj["metadata"]["namespace"]
        self.template = obj["spec"]["template"]
        self.labels = self.template["metadata"].get("labels") or {}
        self.annotations = self.template["metadata"].get("annotations") or {}
        self.spec = self.template["spec"]
        self.containers = self.spec.get("containers", [])

    def __repr__(self):
        return self.name

    def env(self, container):
        """The container's environment as Kubernetes builds it: envFrom first, then env, $(VAR) expanded. A value from
        a Secret reads <secret:NAME|KEY>."""
        values = {}
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef")
            config = ref and self.overlay.find("ConfigMap", ref["name"], self.namespace)
            if config:
                values.update({source.get("prefix", "") + k: v for k, v in (config.get("data") or {}).items()})
            ref = source.get("secretRef")
            if ref:
                values["<all of secret %s>" % ref["name"]] = ""
        for entry in container.get("env", []):
            if "value" in entry:
                values[entry["name"]] = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                                               lambda m: values.get(m.group(1), m.group(0)), entry["value"])
            else:
                source = entry.get("valueFrom", {})
                if "secretKeyRef" in source:
                    values[entry["name"]] = "<secret:%s|%s>" % (source["secretKeyRef"]["name"], source["secretKeyRef"]["key"])
                elif "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    config = self.overlay.find("ConfigMap", ref["name"], self.namespace) or {}
                    values[entry["name"]] = (config.get("data") or {}).get(ref["key"], "")
                else:
                    values[entry["name"]] = "<field>"
        return values

    def all_env(self):
        merged = {}
        for container in self.containers:
            merged.update(self.env(container))
        return merged

    def ports(self):
        return [(p["containerPort"], p.get("protocol", "TCP")) for c in self.containers for p in c.get("ports", [])]

    def port_named(self, name):
        if isinstance(name, int):
            return name
        return next((p["containerPort"] for c in self.containers for p in c.get("ports", []) if p.get("name") == name), None)

    def mounted_file(self, container, path):
        """(volume, key) behind a file path in the container, or None."""
        for mount in container.get("volumeMounts", []):
            prefix = mount["mountPath"].rstrip("/") + "/"
            if path.startswith(prefix):
                volume = next((v for v in self.spec.get("volumes", []) if v["name"] == mount["name"]), None)
                return volume, path[len(prefix):]
        return None


def selects(selector, labels):
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True

