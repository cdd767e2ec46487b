"""The broker (nats-auth): users whose passwords come from a Secret, one NATS user per client, one publisher per
subject, TLS files from Secrets, and nats-server's own test of its configuration."""
import json
import re
import shutil
import subprocess
import tempfile
import urllib.parse

from .report import fail


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

