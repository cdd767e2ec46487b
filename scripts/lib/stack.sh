# Starting and stopping the local stack, shared by scripts/dev and scripts/test. Source it; do not run it.
# Every process is started here, recorded by PID, and stopped by that PID: nothing else on the machine is touched.

STACK_PIDS=()
STACK_NAMES=()
STACK_LOGS=()
STACK_COMMANDS=()

# A TCP port on loopback that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Abuse limits (CONTRACT.md section 6) that a load or chaos run, one client address signing up and ordering at
# machine speed, never reaches. Exported for the services the caller starts next.
stack_generous_limits() {
  export SIGNIN_LIMIT_PER_EMAIL=1000000 SIGNIN_LIMIT_PER_ADDRESS=1000000 SIGNUP_LIMIT=1000000 ORDER_LIMIT=1000000 \
    ACTIVE_ORDERS_PER_USER=1000000
}

# stack_spawn NAME LOGFILE COMMAND...: starts a child in the background and records it.
stack_spawn() {
  local name=$1 log=$2
  shift 2
  "$@" >>"$log" 2>&1 &
  STACK_PIDS+=($!)
  STACK_NAMES+=("$name")
  STACK_LOGS+=("$log")
  STACK_COMMANDS+=("$(printf '%q ' "$@")")
}

# stack_index NAME: the position of a recorded child.
stack_index() {
  local i
  for i in "${!STACK_NAMES[@]}"; do
    [[ ${STACK_NAMES[i]} == "$1" ]] && { echo "$i"; return 0; }
  done
  echo "stack: no process named $1" >&2
  return 1
}

# stack_kill NAME: kills one recorded child at once (SIGKILL), as a crash or a lost node would.
stack_kill() {
  local i
  i=$(stack_index "$1")
  kill -KILL "${STACK_PIDS[i]}" 2>/dev/null || true
  wait "${STACK_PIDS[i]}" 2>/dev/null || true
}

# stack_term NAME SECONDS: stops one recorded child as an orchestrator does, SIGTERM and SIGKILL only if it is still
# there after SECONDS (a pod's termination grace period). Sets STACK_EXIT to its exit status (137 if it was killed).
# Call it directly, not in $( ): only the shell that started the child can wait for it.
stack_term() {
  local i pid deadline
  i=$(stack_index "$1")
  pid=${STACK_PIDS[i]}
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  STACK_EXIT=0
  wait "$pid" 2>/dev/null || STACK_EXIT=$?
}

# stack_restart NAME: starts a stopped child again with its own command and log.
stack_restart() {
  local i
  i=$(stack_index "$1")
  # exec: the recorded PID must be the process itself, not a shell around it, or stopping would miss it.
  eval "exec ${STACK_COMMANDS[i]}" >>"${STACK_LOGS[i]}" 2>&1 &
  STACK_PIDS[i]=$!
}

# Stops every recorded child: SIGTERM, up to 15 s to finish (services drain their work), then SIGKILL.
stack_stop() {
  local i pid deadline
  for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${STACK_PIDS[i]}" 2>/dev/null || true
  done
  deadline=$((SECONDS + 15))
  for pid in "${STACK_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
  STACK_NAMES=()
  STACK_LOGS=()
  STACK_COMMANDS=()
}

# wait_http URL SECONDS: waits until URL answers 200.
wait_http() {
  local url=$1 deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "stack: $url did not become ready" >&2
      return 1
    fi
    sleep 0.2
  done
}

# wait_tcp PORT SECONDS: waits until something accepts connections on the loopback port.
wait_tcp() {
  local port=$1 deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "stack: nothing listening on port $port" >&2
      return 1
    fi
    sleep 0.2
  done
}

# The services that exist, each with the path prefix the ingress routes to it (CONTRACT.md section 1).
# The web front end takes every other path; the expiration service has no route: it only consumes and publishes events.
STACK_SERVICES=(auth tickets orders expiration payments web)
declare -A STACK_ROUTES=(
  [auth]='^/api/users(/|$)' [tickets]='^/api/tickets(/|$)' [orders]='^/api/orders(/|$)' [payments]='^/api/payments(/|$)'
  [web]='/'
)

# stack_start DATA_DIR FRONT_PORT BIN_DIR: starts nats-server, the Stripe emulator, every service and nginx.
# Exports NATS_URL, STRIPE_API_BASE and the service ports (STACK_PORT_<service>) for the caller.
# STACK_STRIPE_PORT, if set, is the emulator's port (else a free one).
stack_start() {
  local data=$1 front=$2 bin=$3
  mkdir -p "$data/logs" "$data/nats"
  local logs=$data/logs

  local nats_port
  nats_port=$(free_port)
  stack_spawn nats-server "$logs/nats.log" nats-server -js -sd "$data/nats" -a 127.0.0.1 -p "$nats_port" -n ticketing-dev
  wait_tcp "$nats_port" 20
  export NATS_URL=${NATS_URL_OVERRIDE:-nats://127.0.0.1:$nats_port}

  stack_stripe "$data"
  export TICKETING_DATA_DIR=$data
  stack_internal_door
  local service port
  for service in "${STACK_SERVICES[@]}"; do
    port=$(free_port)
    export "STACK_PORT_$service=$port"
    stack_spawn "$service" "$logs/$service.log" env PORT="$port" "$bin/ticketing" serve "$service" --hostname 127.0.0.1
  done
  for service in "${STACK_SERVICES[@]}"; do
    local var="STACK_PORT_$service"
    wait_http "http://127.0.0.1:${!var}/healthz" 60 || { tail -n 30 "$logs/$service.log" >&2; return 1; }
  done

  stack_front "$data" "$front"
}

# stack_stripe DATA_DIR: starts the Stripe emulator on STACK_STRIPE_PORT (else a free port); exports STRIPE_API_BASE.
# The emulator saves its whole store after every write, which slows it as the store grows: a run that does not need
# its data across restarts sets STACK_STRIPE_STATE= (empty) to keep it in memory.
stack_stripe() {
  local data=$1 root port state
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  port=${STACK_STRIPE_PORT:-$(free_port)}
  state=${STACK_STRIPE_STATE-$data/localstripe.pickle}
  stack_spawn localstripe "$data/logs/localstripe.log" \
    "$root/.venv/bin/python" "$root/scripts/lib/localstripe_loopback.py" --port "$port" ${state:+--state "$state"}
  wait_tcp "$port" 30
  export STRIPE_API_BASE=http://127.0.0.1:$port
}

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
  stack_nginx_server "$front" '$remote_addr' web "$pages"
  stack_nginx_server "$internal" '$http_x_real_ip' "" "$pages"
  echo "}"
}

# stack_nginx_server PORT REAL_IP WITH_WEB PAGES: one server block of the routing table; PAGES holds nginx's error pages.
stack_nginx_server() {
  local port=$1 real_ip=$2 with_web=$3 pages=$4 service
  cat <<CONF
  server {
    listen 127.0.0.1:$port;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    proxy_set_header X-Real-IP $real_ip;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto \$scheme;
    proxy_set_header X-Request-Id \$request_id;
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
  if [[ -n $with_web && -n ${STACK_ROUTES[web]:-} && " ${STACK_SERVICES[*]} " == *" web "* ]]; then
    # Every service answers these on its own port, for probes and scrapes; through the public door they are not there
    # (CONTRACT.md section 1). nginx matches the normalised path, so //metrics, /%6detrics and /metrics/ are caught too.
    echo "    location ~ ^/(metrics|healthz|readyz)(/|\$) { return 404; }"
    echo "    location / { proxy_pass http://web; }"
  else
    echo "    location / { default_type application/json; add_header X-Content-Type-Options nosniff always; return 404 '{\"errors\":[{\"message\":\"Not Found\"}]}'; }"
  fi
  echo "  }"
}

# As root, PostgreSQL runs as the postgres user (setpriv executes it in place, so a spawned server's PID is its own).
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi
}

# stack_postgres DATA_DIR PORT: a throwaway PostgreSQL server (trust auth, loopback, no fsync) as a recorded child.
stack_postgres() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres "$dir"
  as_postgres "$pg_bin/initdb" -D "$dir/data" -U ticketing --auth=trust >/dev/null
  local run=()
  [[ $(id -u) -eq 0 ]] && run=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  stack_spawn postgres "$dir/server.log" "${run[@]}" "$pg_bin/postgres" -D "$dir/data" \
    -c listen_addresses=127.0.0.1 -p "$port" -k "$dir" -c fsync=off -c max_connections=300
  local deadline=$((SECONDS + 30))
  until as_postgres "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port"; do
    ((SECONDS < deadline)) || { echo "stack: PostgreSQL did not start" >&2; return 1; }
    sleep 0.2
  done
}
