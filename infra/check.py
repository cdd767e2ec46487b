#!/usr/bin/env python3
"""Checks of the generated manifests that kubernetes-validate and checkov cannot make, because they concern how the
objects fit together (issue 14, faults 7 and 8). Run by scripts/validate-infra; `--root DIR` checks another tree
(DIR/infra/k8s*, DIR/asyncapi.yaml), which is how the checks were shown to fail on the manifests before them.

  api-route       the web front end's TICKETING_API_URL names a Service of these manifests whose pods route every API
                  path of the Ingress to the same Service the Ingress sends it to
  visitor-address that router passes the X-Real-IP the web sent, and only hops that set X-Real-IP honestly can reach
                  a pod that believes it; the ingress controller believes no forwarded header from just anyone
  nats-auth       nats-server takes only users whose passwords come from a Secret, each NATS client connects as its own
                  user with that password, each event subject has exactly one publisher, the web has no account
  network         the NetworkPolicies allow exactly the connections the pods' own configuration calls for (broker,
                  database, Stripe, the internal door, Prometheus's scrapes, the collector and its backend, DNS), both
                  ways, and nothing else
  lame-duck       the preStop hook signals the pid file nats-server writes, in a writable directory, in time
  pod-security    the namespace enforces the restricted Pod Security Standard, and every pod meets it
  prometheus      the ConfigMap for the cluster's Prometheus carries infra/alerts/rules.yml and a scrape job for this
                  namespace's annotated pods, and every service's pods carry the annotations that job keeps them by
  migrations      every service of `ticketing services --json` has its Deployment, and each with a database runs
                  `/app/ticketing migrate NAME` in an initContainer (the container's image, environment, volumes and
                  security context) while its container only serves; the others have no database settings
  tracing         every service's OTEL_EXPORTER_OTLP_ENDPOINT names a Service of these manifests (OTLP/HTTP, which
                  the binary speaks) whose pods run an OpenTelemetry Collector from a ConfigMap that parses as YAML,
                  receives OTLP over HTTP on that port (beyond loopback, no gRPC), has a traces pipeline of defined
                  receivers, processors and exporters, answers its probes by a health_check extension and exports
                  over OTLP/HTTP to the overlay's backend (infra/manifests/settings.py, TRACE_BACKENDS; outside the
                  cluster over TLS); the network check holds the policies to both legs, service to collector and
                  collector to backend

Peers outside the namespace are modelled by the labels the deployment documents (README, "Deploying"): ingress-nginx's
controller in namespace ingress-nginx, Prometheus and the dev overlay's Jaeger in namespace monitoring, cluster DNS
in kube-system. The services come from the binary: $TICKETING_BIN, else a `swift build` of this repository
(infra/catalog.py)."""

import argparse
import pathlib
import sys

import yaml

import catalog as service_catalog
from checks.lame_duck import check_lame_duck
from checks.migrations import check_migrations
from checks.monitoring import check_prometheus
from checks.nats import check_nats_auth, nats_server_parses
from checks.network import check_network
from checks.objects import Overlay
from checks.pod_security import check_pod_security
from checks.report import report
from checks.routing import api_router, check_visitor_address, nginx_parses
from checks.tracing import check_tracing


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent.parent)
    parser.add_argument("--all", action="store_true", help="print every failure, not the first dozen of each check")
    arguments = parser.parse_args()
    root = arguments.root
    catalog = service_catalog.load_or_exit("infra/check")
    asyncapi = yaml.safe_load((root / "asyncapi.yaml").read_text())
    subjects = [channel["address"] for channel in asyncapi["channels"].values()]
    for name in ("dev", "prod"):
        overlay = Overlay(root, name)
        route = api_router(overlay)
        nginx_parses(overlay, route)
        check_visitor_address(overlay, route)
        clients = check_nats_auth(overlay, subjects)
        nats_server_parses(overlay)
        traces = check_tracing(overlay, catalog)
        check_network(overlay, route, clients, traces)
        check_lame_duck(overlay)
        check_pod_security(overlay)
        check_migrations(overlay, catalog)
        check_prometheus(root, overlay, catalog)
    if report(arguments.all):
        sys.exit(1)
    print("infra/check: API route, visitor address, NATS authentication, network policies, lame duck, pod security, "
          "migrations, Prometheus and tracing hold")


if __name__ == "__main__":
    main()
