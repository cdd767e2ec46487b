"""The internal door: nginx routing the web front end's API calls inside the cluster, as the public door does."""
from catalog import CATCH_ALL

from .network import DNS, network_policy, pods, rule
from .objects import cluster_service, disruption_budget, secure_container, upstream_deployment
from .settings import INTERNAL_DOOR, NGINX_IMAGE, PART_OF, SERVICE_PORT


def door_conf(catalog):
    """nginx for the internal door: the public door's API routes (the catalog's, less the catch-all), nothing else."""
    upstreams = "".join(f"  upstream {name} {{ server {name}:80; keepalive 16; }}\n" for name in catalog.api_services)
    locations = "".join(f"    location ~ ^{route}(/|$) {{ proxy_pass http://{name}; }}\n"
                        for name in catalog.api_services for route in catalog.routes[name] if route != CATCH_ALL)
    return f"""worker_processes 1;
pid /tmp/nginx.pid;
error_log /dev/stderr warn;
events {{ worker_connections 1024; }}
http {{
  access_log /dev/stdout;
  client_body_temp_path /tmp/client_body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  client_max_body_size 1m;
  server_tokens off;
{upstreams}  server {{
    listen {SERVICE_PORT};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    # The visitor's address, as the web pod sends it (the ingress controller's X-Real-IP): kept, never replaced.
    proxy_set_header X-Real-IP $http_x_real_ip;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_next_upstream error timeout;
    error_page 502 504 =503 /_errors/503;
    location = /_errors/503 {{
      internal; default_type application/json;
      return 503 '{{"errors":[{{"message":"Service unavailable"}}]}}';
    }}
    location = /healthz {{ access_log off; default_type text/plain; return 200 "ok\\n"; }}
{locations}    location / {{ default_type application/json; return 404 '{{"errors":[{{"message":"Not Found"}}]}}'; }}
  }}
}}
"""


# The web front end calls the API with one base URL (TICKETING_API_URL) and passes the visitor's address in
# X-Real-IP. The ingress cannot take those calls: its rules match only the public host, and it replaces X-Real-IP with
# its peer, the web pod. So, as the local stack does (scripts/lib/stack.sh), a second door routes the API paths inside
# the cluster, keeps the header, and takes requests from the web pods only.
def internal_door(catalog):
    container = secure_container({
        "name": "nginx",
        "image": NGINX_IMAGE,
        "command": ["nginx", "-c", "/etc/nginx/door/nginx.conf", "-e", "/dev/stderr"],
        "ports": [{"name": "http", "containerPort": SERVICE_PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/nginx/door", "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    })
    name = INTERNAL_DOOR
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-config", "labels": PART_OF},
         "data": {"nginx.conf": door_conf(catalog)}},
        upstream_deployment(name, "router", container, [{"name": "config", "configMap": {"name": f"{name}-config"}},
                                                            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]),
        cluster_service(name, 80, "http"),
        disruption_budget(name),
        network_policy(name, [rule("from", pods("web"), SERVICE_PORT)],
                       [DNS, rule("to", pods(*catalog.api_services), SERVICE_PORT)]),
    ]

