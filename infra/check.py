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
                  database, Stripe, the internal door, Prometheus's scrapes, DNS), both ways, and nothing else
  lame-duck       the preStop hook signals the pid file nats-server writes, in a writable directory, in time
  pod-security    the namespace enforces the restricted Pod Security Standard, and every pod meets it

Peers outside the namespace are modelled by the labels the deployment documents (README, "Deploying"): ingress-nginx's
controller in namespace ingress-nginx, Prometheus in namespace monitoring, cluster DNS in kube-system."""
import argparse
import ipaddress
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

import yaml

NAMESPACE = "ticketing"
OUTSIDE = {
    "ingress controller": {"namespace": "ingress-nginx",
                           "labels": {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
                           "ports": [(80, "TCP"), (443, "TCP")]},
    "prometheus": {"namespace": "monitoring", "labels": {"app.kubernetes.io/name": "prometheus"}, "ports": [(9090, "TCP")]},
    "cluster DNS": {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ports": [(53, "UDP"), (53, "TCP")]},
    "a pod of another namespace": {"namespace": "elsewhere", "labels": {"app": "web"}, "ports": [(80, "TCP"), (8080, "TCP"), (4222, "TCP")]},
    "the internet": {"ip": "203.0.113.7", "ports": [(443, "TCP"), (80, "TCP")]},
    "the cloud's metadata service": {"ip": "169.254.169.254", "ports": [(80, "TCP")]},
    "a private address outside the cluster's pods": {"ip": "10.200.0.9", "ports": [(443, "TCP"), (5432, "TCP")]},
}
API_PREFIX = "/api/"
FAILURES = []


def fail(check, message):
    FAILURES.append(f"{check}: {message}")


# --- the objects ---------------------------------------------------------------------------------------------------

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


# --- NetworkPolicy semantics ---------------------------------------------------------------------------------------

class Endpoint:
    """A pod of the namespace (a workload) or a peer outside it."""

    def __init__(self, name, namespace=None, labels=None, ip=None, workload=None, ports=()):
        self.name, self.namespace, self.labels, self.ip, self.workload = name, namespace, labels or {}, ip, workload
        self.ports = list(ports)

    def __repr__(self):
        return self.name


def endpoints(overlay):
    inside = [Endpoint(w.name, w.namespace, w.labels, workload=w, ports=w.ports()) for w in overlay.workloads]
    outside = [Endpoint(name, peer.get("namespace"), peer.get("labels"), ip=peer.get("ip"), ports=peer["ports"])
               for name, peer in OUTSIDE.items()]
    return inside, outside


def peer_matches(peer, endpoint, policy_namespace, overlay):
    if "ipBlock" in peer:
        if endpoint.ip is None:
            return False  # pod addresses are never relied on here; rules name pods by label
        address = ipaddress.ip_address(endpoint.ip)
        block = peer["ipBlock"]
        network = ipaddress.ip_network(block["cidr"])
        if address.version != network.version or address not in network:
            return False
        return not any(address in ipaddress.ip_network(e) for e in block.get("except", [])
                       if ipaddress.ip_network(e).version == address.version)
    if endpoint.ip is not None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], overlay.namespace_labels(endpoint.namespace)):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], endpoint.labels)


def port_matches(entries, port, protocol, target):
    if not entries:
        return True
    for entry in entries:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            wanted = target.workload.port_named(wanted) if target.workload else None
        if wanted is not None and wanted <= port <= entry.get("endPort", wanted):
            return True
    return False


def policy_types(policy):
    spec = policy["spec"]
    return spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))


def allowed_one_way(overlay, subject, other, port, protocol, direction, destination):
    """Whether the policies of `subject`'s namespace let it receive from (Ingress) or send to (Egress) `other`."""
    if subject.workload is None:
        return True  # not this deployment's to decide
    relevant = [p for p in overlay.of_kind("NetworkPolicy") if p["metadata"]["namespace"] == subject.namespace
                and selects(p["spec"].get("podSelector", {}), subject.labels) and direction in policy_types(p)]
    if not relevant:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in relevant:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(peer_matches(p, other, subject.namespace, overlay) for p in peers)) \
                    and port_matches(rule.get("ports"), port, protocol, destination):
                return True
    return False


def allowed(overlay, source, destination, port, protocol="TCP"):
    return (allowed_one_way(overlay, source, destination, port, protocol, "Egress", destination)
            and allowed_one_way(overlay, destination, source, port, protocol, "Ingress", destination))


# --- what the pods' configuration calls for ---------------------------------------------------------------------------

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


# --- the checks ----------------------------------------------------------------------------------------------------

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


def broker(overlay):
    """The nats container, its configuration's text and, when it is the generator's JSON, the parsed configuration."""
    nats = overlay.workload("nats")
    if nats is None:
        fail("nats-auth", f"{overlay.name}: no nats StatefulSet")
        return None
    container = nats.containers[0]
    words = container.get("command", []) + container.get("args", [])
    path = next((w.split("=", 1)[1] for w in words if w.startswith("--config=")), None)
    if path is None and "--config" in words:
        path = words[words.index("--config") + 1]
    found = path and nats.mounted_file(container, path)
    config = found and found[0] and "configMap" in found[0] and overlay.find("ConfigMap", found[0]["configMap"]["name"])
    if not config:
        fail("nats-auth", f"{overlay.name}: nats-server's --config is not a file of a ConfigMap of these manifests")
        return None
    text = (config.get("data") or {}).get(found[1], "")
    try:
        # The generator writes JSON with $VARIABLE references bare, as nats-server reads it.
        conf = json.loads(re.sub(r'(?<=[\s\[:,])\$([A-Za-z_][A-Za-z0-9_]*)', r'"$\1"', text))
    except ValueError:
        conf = None
    return nats, container, conf, text


def top_level(text, key):
    """A scalar setting of nats.conf in either of its syntaxes (`key: value`, `"key": "value"`)."""
    match = re.search(rf'^\s*"?{key}"?\s*[:=]?\s*"?([^"\s,]+)', text, re.M)
    return match.group(1) if match else None


def secret_variable(value, env, what, check="nats-auth"):
    """The <secret:…> a `$VAR` configuration value stands for, or None (and a failure)."""
    if value is None:
        fail(check, f"{what} is not set")
        return None
    if not (isinstance(value, str) and value.startswith("$") and env.get(value[1:], "").startswith("<secret:")):
        fail(check, f"{what} must be a $VARIABLE filled from a Secret, not {value!r}")
        return None
    return env[value[1:]]


def subject_matches(pattern, subject):
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def check_nats_auth(overlay, subjects):
    found = broker(overlay)
    if found is None:
        return set()
    nats, container, conf, text = found
    env = nats.env(container)
    name = overlay.name
    if conf is None:
        if "authorization" in text:
            fail("nats-auth", f"{name}: nats.conf is not the JSON form infra/generate.py writes; this check cannot read it")
        conf = {}
    authorization = conf.get("authorization") or {}
    users = authorization.get("users") or []
    if not users:
        fail("nats-auth", f"{name}: nats-server accepts clients without credentials (no authorization users)")
    if "no_auth_user" in conf or "token" in authorization or "accounts" in conf:
        fail("nats-auth", f"{name}: only the users of authorization.users are supported here (no_auth_user, token, accounts)")
    passwords = {}
    for user in users:
        secret = secret_variable(user.get("password"), env, f"{name}: the password of NATS user {user.get('user')}")
        if secret:
            passwords[user["user"]] = secret
    cluster = conf.get("cluster") or {}
    route_secret = secret_variable((cluster.get("authorization") or {}).get("password"), env,
                                   f"{name}: the password nats-server asks its cluster peers for")
    for route in cluster.get("routes", []):
        url = urllib.parse.urlsplit(env.get(route[1:], "") if str(route).startswith("$") else route)
        if not route_secret or urllib.parse.unquote(url.password or "") != route_secret:
            fail("nats-auth", f"{name}: the route {route} does not carry the cluster's password")
    replicas = nats.obj["spec"].get("replicas", 1)
    servers = {f"nats-{i}.nats" for i in range(replicas)}
    clients, users_of = {}, set()
    for workload in overlay.workloads:
        if workload is nats:
            continue
        for container_ in workload.containers:
            values = workload.env(container_)
            url = values.get("NATS_URL")
            mentions = [k for k, v in values.items() if k != "NATS_URL" and "secret:nats" in v]
            if workload.name == "web" and (url or mentions):
                fail("nats-auth", f"{name}: the web front end, which uses no events, has NATS settings ({'NATS_URL' if url else mentions[0]})")
            if not url or workload.name == "web":
                continue
            users_of.add(workload)
            hosts = set()
            for server in url.split(","):
                parsed = urllib.parse.urlsplit(server.strip())
                hosts.add(parsed.hostname)
                user = urllib.parse.unquote(parsed.username or "")
                if user not in passwords or urllib.parse.unquote(parsed.password or "") != passwords[user]:
                    fail("nats-auth", f"{name}: {workload} connects to {parsed.hostname} without its NATS user's password "
                                      "from the Secret the server reads it from")
                elif clients.setdefault(user, workload.name) != workload.name:
                    fail("nats-auth", f"{name}: {workload} and {clients[user]} share the NATS user {user}")
            if hosts != servers:
                fail("nats-auth", f"{name}: {workload}'s NATS_URL lists {sorted(hosts)}, not the servers {sorted(servers)}")
    for user in passwords:
        if user not in clients:
            fail("nats-auth", f"{name}: NATS user {user} is used by no workload")
    for subject in subjects if users else []:
        publishers = []
        for user in users:
            publish = (user.get("permissions") or {}).get("publish")
            if isinstance(publish, list):
                publish = {"allow": publish}
            if publish is None:
                publishers.append(user.get("user"))
                continue
            if any(subject_matches(p, subject) for p in publish.get("allow", [">"])) and \
                    not any(subject_matches(p, subject) for p in publish.get("deny", [])):
                publishers.append(user.get("user"))
        if len(publishers) != 1:
            fail("nats-auth", f"{name}: {subject} may be published by {publishers or 'nobody'}; exactly one service announces it")
    check_tls(overlay, nats, container, conf, users_of)
    return users_of


def check_tls(overlay, nats, container, conf, clients):
    blocks = [b for b in (conf.get("tls"), (conf.get("cluster") or {}).get("tls")) if b]
    for block in blocks:
        for key in ("cert_file", "key_file", "ca_file"):
            if key in block:
                found = nats.mounted_file(container, block[key])
                if not (found and found[0] and "secret" in found[0]):
                    fail("nats-auth", f"{overlay.name}: nats-server's {key} {block[key]} is not a file of a mounted Secret")
    if conf.get("tls"):
        secret = nats.mounted_file(container, conf["tls"]["cert_file"])
        secret_name = secret and secret[0] and secret[0].get("secret", {}).get("secretName")
        for client in clients:
            for c in client.containers:
                path = client.env(c).get("SSL_CERT_FILE")
                found = path and client.mounted_file(c, path)
                source = found and found[0] and found[0].get("secret")
                if not source or source.get("secretName") != secret_name:
                    fail("nats-auth", f"{overlay.name}: {client} cannot check the broker's certificate: SSL_CERT_FILE "
                                      f"({path}) is no file of Secret {secret_name}")


def nats_server_parses(overlay):
    """nats-server itself reads the configuration (it refuses, say, a lame-duck duration under 30 s)."""
    found = broker(overlay)
    if found is None:
        return
    nats, container, conf, text = found
    binary = shutil.which("nats-server")
    if binary is None:
        fail("lame-duck", "nats-server is not installed (scripts/setup installs it); cannot test the configuration")
        return
    env = {k: "x" for k in nats.env(container)}
    if conf is not None:
        conf.pop("tls", None)
        (conf.get("cluster") or {}).pop("tls", None)  # certificate files exist only in the cluster
        text = re.sub(r'"\$([A-Za-z_][A-Za-z0-9_]*)"', r"$\1", json.dumps(conf))
        env.update({v[1:]: f"nats://route:x@localhost:{7000 + i}"
                    for i, v in enumerate((conf.get("cluster") or {}).get("routes", [])) if v.startswith("$")})
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as file:
        file.write(text)
        file.flush()
        result = subprocess.run([binary, "-c", file.name, "-t"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        fail("lame-duck" if "lame_duck" in result.stderr else "nats-auth",
             f"{overlay.name}: nats-server refuses its configuration: {result.stderr.strip()}")


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


def check_network(overlay, route, nats_clients):
    """Every connection the policies allow must be one the configuration calls for, and each of those allowed."""
    inside, outside = endpoints(overlay)
    by_name = {e.name: e for e in inside + outside}
    must, may = set(), set()

    def expect(source, destination, port, protocol="TCP", check="network"):
        must.add((source, destination, port, protocol, check))

    for e in inside:
        may |= {(e.name, "cluster DNS", 53, p) for p in ("UDP", "TCP")}
    nats = overlay.workload("nats")
    for client in nats_clients:
        expect(client.name, "nats", 4222, check="nats-network")
    if nats:
        expect("nats", "nats", 6222, check="nats-network")
    for w in overlay.workloads:
        env = w.all_env()
        database = re.fullmatch(r"<secret:(.+)\|url>", env.get("DATABASE_URL", ""))
        if database:
            owner = next((s for s in overlay.of_kind("Service") if s["metadata"]["name"] == database.group(1)), None)
            for pod in (overlay.service_pods(owner) if owner else []):
                expect(w.name, pod.name, 5432)
        if "STRIPE_KEY" in env:
            expect(w.name, "the internet", 443)
        if w.labels.get("app.kubernetes.io/component") == "service":
            port = int(w.annotations.get("prometheus.io/port") or w.port_named("http") or 0)
            expect("prometheus", w.name, port, check="prometheus")
    for ingress in overlay.of_kind("Ingress"):
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = overlay.find("Service", path["backend"]["service"]["name"])
                pods, port = target_pods_and_port(overlay, backend, path["backend"]["service"]["port"]["number"]) if backend else ([], None)
                for pod in pods:
                    expect("ingress controller", pod.name, port, check="visitor-address")
    if route:
        web, routers, port, backends = route
        for router in routers:
            expect(web.name, router.name, port, check="visitor-address")
            for service in backends.values():
                pods, target = target_pods_and_port(overlay, service, 80)
                for pod in pods:
                    expect(router.name, pod.name, target, check="visitor-address")
    required = {(s, d, p, proto) for s, d, p, proto, _ in must}
    for source, destination, port, protocol, check in sorted(must, key=str):
        if not allowed(overlay, by_name[source], by_name[destination], port, protocol):
            fail(check, f"{overlay.name}: {source} cannot reach {destination}:{port}/{protocol}, which it needs")
    # Each side on its own: a pod's ingress rules must not lean on its peers' egress rules, nor the other way round.
    for source in inside + outside:
        for destination in inside + outside:
            for port, protocol in destination.ports:
                key = (source.name, destination.name, port, protocol)
                if key in required or key in may:
                    continue
                check = "nats-network" if destination.name == "nats" and port == 4222 else (
                    "visitor-address" if destination.workload and port == 8080 else "network")
                if destination.workload and allowed_one_way(overlay, destination, source, port, protocol, "Ingress", destination):
                    fail(check, f"{overlay.name}: {destination} admits {source} on {port}/{protocol}, which nothing calls for")
                if source.workload and allowed_one_way(overlay, source, destination, port, protocol, "Egress", destination):
                    fail(check, f"{overlay.name}: {source} may send to {destination}:{port}/{protocol}, which nothing calls for")
    for w in inside:
        for direction in ("Ingress", "Egress"):
            if not any(direction in policy_types(p) and selects(p["spec"].get("podSelector", {}), w.labels)
                       for p in overlay.of_kind("NetworkPolicy") if p["metadata"]["namespace"] == w.namespace):
                fail("network", f"{overlay.name}: no NetworkPolicy limits {direction.lower()} of {w}")


def check_lame_duck(overlay):
    found = broker(overlay)
    if found is None:
        return
    nats, container, _, text = found
    command = " ".join((container.get("lifecycle") or {}).get("preStop", {}).get("exec", {}).get("command", []))
    signalled = re.search(r"(?:--signal|-sl)[= ]ldm=(\S+?)(?:['\";&|]|\s|$)", command)
    pid_file = top_level(text, "pid_file")
    if not signalled:
        fail("lame-duck", f"{overlay.name}: the nats preStop hook does not signal lame-duck mode (--signal ldm=PIDFILE)")
    elif pid_file != signalled.group(1):
        fail("lame-duck", f"{overlay.name}: the preStop hook signals the pid in {signalled.group(1)}, but nats-server "
                          f"writes {'no pid file' if pid_file is None else pid_file} (pid_file)")
    if pid_file:
        directory = pid_file.rsplit("/", 1)[0] + "/"
        volume = nats.mounted_file(container, directory + "x")
        if not (volume and volume[0] and "emptyDir" in volume[0]):
            fail("lame-duck", f"{overlay.name}: nats-server cannot write {pid_file}: {directory} is no writable (emptyDir) volume")

    def seconds(value, default):
        match = re.fullmatch(r"(\d+)s", str(value)) if value is not None else None
        return int(match.group(1)) if match else default

    spell = seconds(top_level(text, "lame_duck_duration"), 120) + seconds(top_level(text, "lame_duck_grace_period"), 10)
    grace = nats.spec.get("terminationGracePeriodSeconds", 30)
    if spell >= grace:
        fail("lame-duck", f"{overlay.name}: lame duck takes {spell} s but the pod is killed after {grace} s")


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent.parent)
    parser.add_argument("--all", action="store_true", help="print every failure, not the first dozen of each check")
    arguments = parser.parse_args()
    root = arguments.root
    asyncapi = yaml.safe_load((root / "asyncapi.yaml").read_text())
    subjects = [channel["address"] for channel in asyncapi["channels"].values()]
    for name in ("dev", "prod"):
        overlay = Overlay(root, name)
        route = api_router(overlay)
        nginx_parses(overlay, route)
        check_visitor_address(overlay, route)
        clients = check_nats_auth(overlay, subjects)
        nats_server_parses(overlay)
        check_network(overlay, route, clients)
        check_lame_duck(overlay)
        check_pod_security(overlay)
    shown = {}
    for failure in dict.fromkeys(FAILURES):
        check = failure.split(":", 1)[0]
        shown[check] = shown.get(check, 0) + 1
        if shown[check] <= 12 or arguments.all:
            print("infra/check:", failure)
    for check, count in shown.items():
        if count > 12 and not arguments.all:
            print(f"infra/check: {check}: … and {count - 12} more")
    if FAILURES:
        print("infra/check: failures by check:", ", ".join(f"{check} {count}" for check, count in shown.items()))
    if FAILURES:
        sys.exit(1)
    print("infra/check: API route, visitor address, NATS authentication, network policies, lame duck and pod security hold")


if __name__ == "__main__":
    main()
