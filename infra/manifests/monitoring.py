"""What the cluster's Prometheus (namespace "monitoring", see settings.PROMETHEUS) loads for Ticketing: the alert
rules of infra/alerts/rules.yml, and a scrape job that finds every service's pods by the prometheus.io annotations
their Deployments carry. A Prometheus mounts the ConfigMap and names both files in its configuration
(`rule_files`, and the job appended to `scrape_configs`); infra/check.py checks both."""
import json
import pathlib

from .settings import NAMESPACE, PART_OF

RULES = pathlib.Path(__file__).resolve().parent.parent / "alerts" / "rules.yml"
MONITORING_NAMESPACE = "monitoring"


def scrape_job():
    return {
        "job_name": "ticketing",
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [NAMESPACE]}}],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], "regex": "true", "action": "keep"},
            {"source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
             "regex": "([^:]+)(?::\\d+)?;(\\d+)", "replacement": "$1:$2", "target_label": "__address__"},
            {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"], "regex": "(.+)",
             "target_label": "__metrics_path__"},
            # The alerts speak of services by `job`: the pod's app name, as scripts/dev names its jobs.
            {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "target_label": "job"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }


def prometheus_config():
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "prometheus-ticketing", "namespace": MONITORING_NAMESPACE,
                     "labels": {"app.kubernetes.io/name": "prometheus-ticketing", **PART_OF}},
        "data": {
            "ticketing-rules.yml": RULES.read_text(),
            # JSON is YAML: a scrape_configs entry, exactly.
            "ticketing-scrape.yml": json.dumps({"scrape_configs": [scrape_job()]}, indent=2) + "\n",
        },
    }
