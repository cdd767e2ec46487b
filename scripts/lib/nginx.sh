# The front door of the local stack: nginx's configuration and error pages. Sourced by stack.sh; do not run it.

# The web front end calls the API through a second, loopback-only door that keeps the visitor's address (which
# the public door has put in X-Real-IP), so that sign-in throttling still counts per visitor, not per web server.
# Call before starting the services: it exports the door's address as TICKETING_API_URL.
stack_internal_door() {
  STACK_INTERNAL_PORT=$(free_port)
  export TICKETING_API_URL=http://127.0.0.1:$STACK_INTERNAL_PORT
}

# stack_front DATA_DIR FRONT_PORT: nginx with both doors, routing to the STACK_PORT_<service> ports.
stack_front() {
  local data=$1 front=$2
  mkdir -p "$data/nginx"
  stack_error_pages "$data/nginx/errors"
  stack_nginx_config "$data/nginx" "$front" "$STACK_INTERNAL_PORT" >"$data/nginx/nginx.conf"
  stack_spawn nginx "$data/logs/nginx.log" nginx -c "$data/nginx/nginx.conf" -p "$data/nginx" -e "$data/logs/nginx-error.log"
  wait_tcp "$front" 20
}

# stack_error_pages DIR: nginx's own error pages, written from Resources/ErrorPages (one page in the site's look, and a
# title and a sentence per page), so they show even when the web service is down.
stack_error_pages() {
  local dir=$1 source name title message
  source=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/Resources/ErrorPages
  mkdir -p "$dir"
  cp "$source/errors.css" "$dir/"
  while IFS=$'\t' read -r name title message; do
    TITLE=$title MESSAGE=$message python3 -c 'import os, sys; sys.stdout.write(sys.stdin.read().replace("{{title}}", os.environ["TITLE"]).replace("{{message}}", os.environ["MESSAGE"]))' \
      <"$source/page.html" >"$dir/$name.html"
  done <"$source/pages.tsv"
}

# The front door: the contract's path table. Without a web service, other paths answer the contract's JSON 404;
# unknown /api/ paths always do.
stack_nginx_config() {
  local dir=$1 front=$2 internal=$3 service var port pages=$1/errors
  [[ $(id -u) -eq 0 ]] && echo "user root;"
  cat <<CONF
daemon off;
worker_processes auto;
pid $dir/nginx.pid;
events { worker_connections 1024; }
http {
  access_log $dir/../logs/nginx-access.log;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  client_max_body_size 1m;
  server_tokens off;
  types { text/html html; text/css css; }
  # nginx's own refusals (not the services' answers, which pass through untouched) speak like the rest of the site:
  # the contract's JSON envelope under /api/, the site's page elsewhere. \$uri is the normalised path nginx routed
  # by; a request line too long or too broken to parse has none, so the raw line decides, and a line nginx could
  # not read at all gets the page (the default route is the web front end).
  map "\$uri \$request" \$front_error_kind { volatile; ~^/api/ json; "~^ [A-Z]+ +/+api/" json; default html; }
  map \$status \$front_error_reason {
    volatile; 400 "Bad Request"; 404 "Not Found"; 405 "Method Not Allowed"; 408 "Request Timeout"; 411 "Length Required";
    413 "Payload Too Large"; 414 "URI Too Long"; 431 "Request Header Fields Too Large"; 500 "Something went wrong";
    501 "Not Implemented"; 503 "Service unavailable"; 505 "HTTP Version Not Supported"; default "Something went wrong";
  }
  # The internal door keeps the web's request id (of the services' own shape), so one visit has one id in every log.
  map \$http_x_request_id \$door_request_id { volatile; "~^[A-Za-z0-9-]{1,64}\$" \$http_x_request_id; default \$request_id; }
  map \$status \$front_error_page {
    volatile; 404 404.html; 413 413.html; 414 too-large.html; 431 too-large.html; 500 500.html; 503 503.html; default 400.html;
  }
CONF
  for service in "${STACK_SERVICES[@]}"; do
    var="STACK_PORT_$service"
    [[ -n ${STACK_ROUTES[$service]:-} ]] || continue
    # STACK_PORT_<service> may list several replicas' ports: nginx balances across them.
    echo -n "  upstream $service {"
    for port in ${!var}; do echo -n " server 127.0.0.1:$port max_fails=1 fail_timeout=2s;"; done
    echo " keepalive 32; }"
  done
  # A trace starts at the front door: a visitor's traceparent would choose our sampling and name our traces' ids.
  stack_nginx_server "$front" '$remote_addr' '$request_id' '""' web "$pages"
  stack_nginx_server "$internal" '$http_x_real_ip' '$door_request_id' '$http_traceparent' "" "$pages"
  echo "}"
}

# stack_nginx_server PORT REAL_IP REQUEST_ID TRACEPARENT WITH_WEB PAGES: one server block of the routing table (TRACEPARENT
# "" drops the trace headers a request brings); PAGES holds nginx's error pages.
stack_nginx_server() {
  local port=$1 real_ip=$2 request_id=$3 traceparent=$4 with_web=$5 pages=$6 service
  cat <<CONF
  server {
    listen 127.0.0.1:$port;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    proxy_set_header X-Real-IP $real_ip;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto \$scheme;
    proxy_set_header X-Request-Id $request_id;
    proxy_set_header traceparent $traceparent;
    proxy_set_header tracestate ${traceparent/traceparent/tracestate};
    # A replica that dies mid-request, or a service with none left, is the contract's 503, not nginx's own page.
    proxy_next_upstream error timeout;
    error_page 502 504 =503 /_errors/\$front_error_kind;
    # 494 is nginx's private code for headers too large (it would send 400): 431 says what went wrong.
    error_page 494 =431 /_errors/\$front_error_kind;
    error_page 400 404 405 408 411 413 414 500 501 505 /_errors/\$front_error_kind;
    location = /_errors/json {
      internal; default_type application/json; add_header X-Content-Type-Options nosniff always;
      return 200 '{"errors":[{"message":"\$front_error_reason"}]}';
    }
    location = /_errors/html { internal; root "$pages"; add_header X-Content-Type-Options nosniff always; try_files /\$front_error_page =500; }
    # The pages' stylesheet must be public: a strict Content-Security-Policy allows only style files from the site.
    location = /_errors/errors.css { root "$pages"; add_header X-Content-Type-Options nosniff always; try_files /errors.css =404; }
CONF
  for service in "${STACK_SERVICES[@]}"; do
    [[ -n ${STACK_ROUTES[$service]:-} && ${STACK_ROUTES[$service]} != / ]] || continue
    echo "    location ~ ${STACK_ROUTES[$service]} { proxy_pass http://$service; }"
  done
  echo "    location /api/ { return 404; }"
  if [[ -n $with_web && -n $STACK_CATCH_ALL && " ${STACK_SERVICES[*]} " == *" $STACK_CATCH_ALL "* ]]; then
    # Every service answers these on its own port, for probes and scrapes; through the public door they are not there
    # (CONTRACT.md section 1). nginx matches the normalised path, so //metrics, /%6detrics and /metrics/ are caught too.
    echo "    location ~ ^/(metrics|healthz|readyz)(/|\$) { return 404; }"
    echo "    location / { proxy_pass http://$STACK_CATCH_ALL; }"
  else
    echo "    location / { default_type application/json; add_header X-Content-Type-Options nosniff always; return 404 '{\"errors\":[{\"message\":\"Not Found\"}]}'; }"
  fi
  echo "  }"
}
