"""Prometheus (prometheus): the ConfigMap the cluster's Prometheus mounts carries exactly infra/alerts/rules.yml (which
promtool checks and tests in scripts/validate-infra) and a scrape job for this namespace's annotated pods, and every
service's pods carry the annotations that job keeps them by."""
import pathlib

import yaml

from .report import fail
from .objects import NAMESPACE

RULES = pathlib.Path(__file__).resolve().parent.parent / "alerts" / "rules.yml"


def check_prometheus(root, overlay, catalog):
    path = root / "infra" / "k8s-monitoring" / "prometheus.yaml"
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d] if path.exists() else []
    config = next((d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "prometheus-ticketing"
                   and d["metadata"].get("namespace") == "monitoring"), None)
    if config is None:
        fail("prometheus", "infra/k8s-monitoring/prometheus.yaml has no ConfigMap prometheus-ticketing in namespace monitoring")
        return
    data = config.get("data") or {}
    if data.get("ticketing-rules.yml") != RULES.read_text():
        fail("prometheus", f"{overlay.name}: ticketing-rules.yml is not infra/alerts/rules.yml")
    for name in catalog.names:
        workload = overlay.workload(name)
        annotations = workload.annotations if workload else {}
        if annotations.get("prometheus.io/scrape") != "true" or not annotations.get("prometheus.io/port"):
            fail("prometheus", f"{overlay.name}: {name}'s pods are not annotated for the scrape job")
    # Debian's promtool is built without Kubernetes discovery, so the job is checked here by what it must do:
    # discover this namespace's pods and keep those annotated for scraping, at the annotated port and path.
    jobs = (yaml.safe_load(data.get("ticketing-scrape.yml", "{}")) or {}).get("scrape_configs", [])
    job = next((j for j in jobs if j.get("job_name") == "ticketing"), None)
    if job is None:
        fail("prometheus", f"{overlay.name}: ticketing-scrape.yml has no job ticketing")
        return
    discovery = job.get("kubernetes_sd_configs") or [{}]
    if discovery[0].get("role") != "pod" or NAMESPACE not in (discovery[0].get("namespaces") or {}).get("names", []):
        fail("prometheus", f"{overlay.name}: the job does not discover the pods of namespace {NAMESPACE}")
    relabels = {tuple(r.get("source_labels", [])): r for r in job.get("relabel_configs", [])}
    keep = relabels.get(("__meta_kubernetes_pod_annotation_prometheus_io_scrape",), {})
    if keep.get("action") != "keep" or keep.get("regex") != "true":
        fail("prometheus", f"{overlay.name}: the job does not keep only pods annotated prometheus.io/scrape=true")
    port = relabels.get(("__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"), {})
    if port.get("target_label") != "__address__":
        fail("prometheus", f"{overlay.name}: the job does not scrape the annotated port")
    if relabels.get(("__meta_kubernetes_pod_label_app_kubernetes_io_name",), {}).get("target_label") != "job":
        fail("prometheus", f"{overlay.name}: the job does not name series by service (the alerts' job label)")
