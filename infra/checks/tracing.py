"""Traces (tracing): every service exports its spans over OTLP/HTTP to a Service of these manifests whose pods run an
OpenTelemetry Collector that receives OTLP/HTTP (no gRPC) on that port, passes them through a traces pipeline of
defined components, and exports them to the overlay's backend; and which connections that calls for, for the network
check to hold the NetworkPolicies to."""
import urllib.parse

import yaml

# The backend each overlay means its collector to send to: the generator's, as the checks have no other word for it.
from manifests.settings import TRACE_BACKENDS

from .objects import NAMESPACE
from .policy import OUTSIDE
from .report import fail
from .routing import resolve_service_host, target_pods_and_port

# What the services' exporter speaks (Telemetry.swift): OTLP over HTTP, never gRPC.
PROTOCOLS = ("http/protobuf", "http/json")


def port_of(url):
    return url.port or (443 if url.scheme == "https" else 80)


def endpoint_port(endpoint):
    """The port of a collector listener's `host:port` endpoint, or None."""
    _, _, port = str(endpoint or "").rpartition(":")
    return int(port) if port.isdigit() else None


def collector_config(overlay, workload):
    """The container running the collector's --config of a ConfigMap, and that configuration parsed, or (None, None)."""
    for container in workload.containers:
        words = container.get("command", []) + container.get("args", [])
        paths = [w.split("=", 1)[1] for w in words if w.startswith("--config=")]
        paths += [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--config"]
        for path in paths:
            found = workload.mounted_file(container, path)
            config = found and found[0] and "configMap" in found[0] and \
                overlay.find("ConfigMap", found[0]["configMap"]["name"], workload.namespace)
            if not config:
                fail("tracing", f"{overlay.name}: {workload}'s --config {path} is not a file of a ConfigMap of these manifests")
                return None, None
            text = (config.get("data") or {}).get(found[1])
            if text is None:
                fail("tracing", f"{overlay.name}: ConfigMap {config['metadata']['name']} has no key {found[1]} ({workload}'s --config)")
                return None, None
            try:
                conf = yaml.safe_load(text)
            except yaml.YAMLError as error:
                fail("tracing", f"{overlay.name}: {workload}'s configuration ({config['metadata']['name']}) is no YAML: {' '.join(str(error).split())}")
                return None, None
            if not isinstance(conf, dict):
                fail("tracing", f"{overlay.name}: {workload}'s configuration ({config['metadata']['name']}) is no mapping")
                return None, None
            return container, conf
    fail("tracing", f"{overlay.name}: {workload} runs no collector configuration (--config) from a ConfigMap")
    return None, None


def backend_peer(overlay, collector, url):
    """The endpoint (a workload's or an OUTSIDE peer's name) a collector exports to, or None (and a failure)."""
    named = resolve_service_host(url.hostname or "", collector.namespace)
    if named is None:
        if url.scheme != "https":
            fail("tracing", f"{overlay.name}: {collector} sends traces out of the cluster without TLS ({url.geturl()})")
        return "the internet"
    namespace, service = named
    if namespace == NAMESPACE:
        found = overlay.find("Service", service, namespace)
        pods = overlay.service_pods(found) if found else []
        if not pods:
            fail("tracing", f"{overlay.name}: {collector} exports to {url.geturl()}, no Service with pods of these manifests")
        return pods[0].name if pods else None
    peer = next((name for name, p in OUTSIDE.items() if p.get("namespace") == namespace and service in p.get("services", ())), None)
    if peer is None:
        fail("tracing", f"{overlay.name}: {collector} exports to {url.geturl()}, a Service of namespace {namespace} no "
                        "NetworkPolicy check knows the pods of (checks/policy.py, OUTSIDE)")
    return peer


def check_collector(overlay, collector, port):
    """One collector's configuration; returns the peers it exports to, as [(name, port)]."""
    where = f"{overlay.name}: {collector}"
    container, conf = collector_config(overlay, collector)
    if conf is None:
        return []
    receivers, processors = conf.get("receivers") or {}, conf.get("processors") or {}
    exporters, extensions = conf.get("exporters") or {}, conf.get("extensions") or {}
    service = conf.get("service") or {}
    traces = (service.get("pipelines") or {}).get("traces")
    if not isinstance(traces, dict):
        fail("tracing", f"{where}: its configuration has no traces pipeline (service.pipelines.traces)")
        traces = {}
    for kind, defined in (("receivers", receivers), ("processors", processors), ("exporters", exporters)):
        for name in traces.get(kind) or []:
            if name not in defined:
                fail("tracing", f"{where}: the traces pipeline names {kind[:-1]} {name}, which is not defined under {kind}")
    for name in service.get("extensions") or []:
        if name not in extensions:
            fail("tracing", f"{where}: service.extensions names {name}, which is not defined under extensions")
    # Receivers: OTLP over HTTP on the port the services send to, listening beyond the pod's loopback; no gRPC.
    otlp = [name for name in traces.get("receivers") or [] if name.split("/")[0] == "otlp" and name in receivers]
    if not otlp:
        fail("tracing", f"{where}: the traces pipeline has no otlp receiver")
    listening = False
    for name in otlp:
        protocols = (receivers[name] or {}).get("protocols") or {}
        if "grpc" in protocols:
            fail("tracing", f"{where}: receiver {name} takes OTLP over gRPC too, which no service speaks")
        if "http" not in protocols:
            fail("tracing", f"{where}: receiver {name} does not take OTLP over HTTP")
            continue
        endpoint = (protocols["http"] or {}).get("endpoint")
        if endpoint_port(endpoint) != port:
            fail("tracing", f"{where}: receiver {name} listens on {endpoint or 'its default localhost:4318'}, not on "
                            f"{port}, where the services send")
        elif str(endpoint).rsplit(":", 1)[0] in ("localhost", "127.0.0.1", "[::1]"):
            fail("tracing", f"{where}: receiver {name} listens on {endpoint}, which no other pod reaches")
        else:
            listening = True
    if otlp and not listening:
        fail("tracing", f"{where}: no receiver of the traces pipeline takes the services' spans on port {port}")
    # The probes ask the health_check extension, at the port it listens on.
    health = [name for name in service.get("extensions") or [] if name.split("/")[0] == "health_check" and name in extensions]
    health_ports = {endpoint_port((extensions[name] or {}).get("endpoint")) for name in health}
    for probe in ("readinessProbe", "livenessProbe"):
        target = (container.get(probe) or {}).get("httpGet", {}).get("port")
        if target is None or collector.port_named(target) not in health_ports:
            fail("tracing", f"{where}: its {probe} does not ask a health_check extension of service.extensions "
                            f"(it asks port {target}; health_check listens on {sorted(p for p in health_ports if p) or 'nothing'})")
    # Exporters: to the backend the overlay names, over OTLP/HTTP.
    wanted = TRACE_BACKENDS.get(overlay.name, (None,))[0]
    peers, endpoints = [], []
    for name in traces.get("exporters") or []:
        if name not in exporters:
            continue
        endpoint = (exporters[name] or {}).get("endpoint")
        if name.split("/")[0] != "otlphttp" or not endpoint:
            continue
        endpoints.append(endpoint)
        url = urllib.parse.urlsplit(endpoint)
        peer = backend_peer(overlay, collector, url)
        if peer:
            peers.append((peer, port_of(url)))
    if not traces.get("exporters"):
        fail("tracing", f"{where}: the traces pipeline exports to nothing")
    elif wanted not in endpoints:
        fail("tracing", f"{where}: the traces pipeline does not export over OTLP/HTTP to {overlay.name}'s backend {wanted} "
                        f"(infra/manifests/settings.py, TRACE_BACKENDS); its otlphttp exporters send to {endpoints or 'nothing'}")
    return peers


def check_tracing(overlay, catalog):
    """Returns the connections tracing calls for, [(source, destination, port)], for check_network."""
    connections, collectors = [], {}
    for name in catalog.names:
        workload = overlay.workload(name)
        if workload is None:
            continue  # the migrations check says so
        main = next((c for c in workload.containers if c.get("name") == name), None)
        env = workload.env(main) if main else {}
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if not endpoint:
            fail("tracing", f"{overlay.name}: {workload} exports no traces: its container has no OTEL_EXPORTER_OTLP_ENDPOINT "
                            "(ticketing-config)")
            continue
        protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        if protocol not in PROTOCOLS:
            fail("tracing", f"{overlay.name}: {workload}'s OTEL_EXPORTER_OTLP_PROTOCOL is {protocol}; the binary speaks only "
                            f"{' or '.join(PROTOCOLS)}")
        url = urllib.parse.urlsplit(endpoint)
        named = url.scheme in ("http", "https") and resolve_service_host(url.hostname or "", workload.namespace)
        service = named and overlay.find("Service", named[1], named[0])
        if not service:
            fail("tracing", f"{overlay.name}: {workload}'s OTEL_EXPORTER_OTLP_ENDPOINT {endpoint} names no Service of these "
                            "manifests, so nothing shows its spans are received")
            continue
        pods, target = target_pods_and_port(overlay, service, port_of(url))
        if not pods or target is None:
            fail("tracing", f"{overlay.name}: {workload}'s OTEL_EXPORTER_OTLP_ENDPOINT {endpoint}: Service {named[1]} has no "
                            f"port {port_of(url)} with pods behind it")
            continue
        for pod in pods:
            connections.append((workload.name, pod.name, target))
            collectors[pod.name] = (pod, target)
    for pod, port in collectors.values():
        for peer, peer_port in check_collector(overlay, pod, port):
            connections.append((pod.name, peer, peer_port))
    return connections
