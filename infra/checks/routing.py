"""The web's way to the API (api-route) and the visitor's address along it (visitor-address): the internal door's
nginx configuration against the Ingress, the X-Real-IP it passes, the ingress controller's trust, nginx's own test."""
import ipaddress
import pathlib
import re
import shutil
import subprocess
import tempfile
import urllib.parse

from .objects import NAMESPACE
from .report import fail

API_PREFIX = "/api/"


def resolve_service_host(host, namespace):
    """The (namespace, name) a cluster DNS name of a Service stands for, or None for any other name."""
    parts = host.split(".")
    if len(parts) == 1:
        return namespace, parts[0]
    if parts[2:] in ([], ["svc"], ["svc", "cluster", "local"]):
        return parts[1], parts[0]
    return None


def nginx_config(workload):
    """The text of the nginx.conf a workload runs (`nginx -c PATH` from a mounted ConfigMap), or None."""
    for container in workload.containers:
        words = container.get("command", []) + container.get("args", [])
        if not words or "nginx" not in words[0] or "-c" not in words:
            continue
        found = workload.mounted_file(container, words[words.index("-c") + 1])
        if found and found[0] and "configMap" in found[0]:
            config = workload.overlay.find("ConfigMap", found[0]["configMap"]["name"], workload.namespace)
            return (config.get("data") or {}).get(found[1]) if config else None
    return None


def nginx_routes(text):
    """{path prefix: (upstream host, port)} of `location ~ ^PREFIX(/|$) { proxy_pass http://UPSTREAM; }`."""
    upstreams = {name: re.findall(r"server\s+([^\s:;]+):(\d+)", body)
                 for name, body in re.findall(r"upstream\s+([\w.-]+)\s*\{([^}]*)\}", text)}
    routes = {}
    for prefix, upstream in re.findall(r"location\s+~\s+\^(/[^\s(]*)\(/\|\$\)\s*\{\s*proxy_pass\s+http://([\w.-]+);\s*\}", text):
        servers = upstreams.get(upstream, [])
        routes[prefix] = (servers[0][0], int(servers[0][1])) if len(servers) == 1 else None
    return routes


def server_block(text):
    match = re.search(r"\n\s*server\s*\{(.*)\}\s*\}\s*$", text, re.S)
    return match.group(1) if match else ""


def target_pods_and_port(overlay, service, port):
    """The workloads behind a Service port, and the container port it sends to."""
    entry = next((p for p in service["spec"].get("ports", []) if p["port"] == port), None)
    if entry is None:
        return [], None
    pods = overlay.service_pods(service)
    target = entry.get("targetPort", port)
    return pods, (pods[0].port_named(target) if pods else None)


def api_router(overlay):
    """Checks the web's way to the API; returns (web, router workloads, router port, {prefix: backend Service})."""
    web = overlay.workload("web")
    if web is None:
        fail("api-route", f"{overlay.name}: no web Deployment")
        return None
    url = web.all_env().get("TICKETING_API_URL")
    if not url:
        fail("api-route", f"{overlay.name}: the web front end has no TICKETING_API_URL")
        return None
    parsed = urllib.parse.urlsplit(url)
    named = resolve_service_host(parsed.hostname or "", web.namespace)
    service = named and overlay.find("Service", named[1], named[0])
    if service is None:
        fail("api-route", f"{overlay.name}: TICKETING_API_URL {url} names no Service of these manifests (a Service "
                          "elsewhere, such as the ingress controller's, routes by rules this deployment does not see)")
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    routers, container_port = target_pods_and_port(overlay, service, port)
    if not routers or container_port is None:
        fail("api-route", f"{overlay.name}: Service {named[1]} has no port {port} with pods behind it")
        return None
    ingress_paths = {path["path"]: path["backend"]["service"] for ingress in overlay.of_kind("Ingress")
                     for rule in ingress["spec"].get("rules", []) for path in rule.get("http", {}).get("paths", [])
                     if path["path"].startswith(API_PREFIX)}
    if not ingress_paths:
        fail("api-route", f"{overlay.name}: the Ingress routes no {API_PREFIX} paths to compare the router with")
    backends = {}
    for router in routers:
        text = nginx_config(router)
        if text is None:
            fail("api-route", f"{overlay.name}: {router} (behind {url}) runs no nginx configuration from a ConfigMap, "
                              "so nothing shows that it routes the API paths")
            return None
        if not re.search(rf"listen\s+(?:[\d.]+:)?{container_port}\s*;", text):
            fail("api-route", f"{overlay.name}: {router}'s nginx does not listen on {container_port}, the Service's target port")
        routes = nginx_routes(text)
        for path, backend in ingress_paths.items():
            found = routes.get(path)
            target = found and resolve_service_host(found[0], router.namespace)
            if not found or target != (NAMESPACE, backend["name"]) or found[1] != backend["port"]["number"]:
                fail("api-route", f"{overlay.name}: {router} does not route {path} to Service {backend['name']} "
                                  f"port {backend['port']['number']} as the Ingress does (it has {found})")
            else:
                backends[path] = overlay.find("Service", backend["name"])
    return web, routers, container_port, backends



def check_visitor_address(overlay, route):
    check_ingress_controller(overlay)
    if route is None:
        fail("visitor-address", f"{overlay.name}: the web's API calls pass through no hop of these manifests known to "
                                "keep the X-Real-IP the web sends, so the services cannot be shown to see the visitor's address")
        return
    web, routers, _, _ = route
    for router in routers:
        server = server_block(nginx_config(router))
        settings = re.findall(r"proxy_set_header\s+X-Real-IP\s+([^;]+);", server, re.I)
        if settings != ["$http_x_real_ip"]:
            fail("visitor-address", f"{overlay.name}: {router} must pass X-Real-IP as the web sent it "
                                    f"(proxy_set_header X-Real-IP $http_x_real_ip), not {settings or 'nothing'}")
        if re.search(r"real_ip_header|set_real_ip_from", nginx_config(router)):
            fail("visitor-address", f"{overlay.name}: {router} rewrites the client address (realip module)")


def check_ingress_controller(overlay):
    controller = overlay.find("ConfigMap", "ingress-nginx-controller", "ingress-nginx")
    if overlay.name == "prod":
        if controller is None:
            fail("visitor-address", "prod: no ingress-nginx controller configuration says which forwarded headers it "
                                    "believes (ConfigMap ingress-nginx/ingress-nginx-controller)")
        else:
            data = controller.get("data") or {}
            trusting = [k for k in ("use-forwarded-headers", "use-proxy-protocol", "enable-real-ip") if data.get(k) == "true"]
            cidrs = [c.strip() for c in data.get("proxy-real-ip-cidr", "").split(",") if c.strip()]
            if trusting and (not cidrs or any(ipaddress.ip_network(c).prefixlen == 0 for c in cidrs)):
                fail("visitor-address", f"prod: the ingress controller believes forwarded addresses ({', '.join(trusting)}) "
                                        f"from {cidrs or 'anyone (its default 0.0.0.0/0)'}: a visitor could choose its own X-Real-IP")

def nginx_parses(overlay, route):
    if route is None:
        return
    binary = shutil.which("nginx")
    if binary is None:
        fail("api-route", "nginx is not installed (scripts/setup installs it); cannot test the internal door's configuration")
        return
    for router in route[1][:1]:
        # Upstream names resolve only inside the cluster.
        text = re.sub(r"(server\s+)[^\s:;]+(:\d+)", r"\g<1>127.0.0.1\2", nginx_config(router))
        with tempfile.TemporaryDirectory() as directory:
            path = pathlib.Path(directory) / "nginx.conf"
            path.write_text(text.replace("/tmp/", directory + "/"))
            result = subprocess.run([binary, "-t", "-q", "-c", str(path), "-p", directory, "-e", "/dev/null"],
                                    capture_output=True, text=True)
        if result.returncode != 0:
            fail("api-route", f"{overlay.name}: nginx refuses {router}'s configuration: {result.stderr.strip()}")

