# Starting and stopping the local stack, shared by scripts/dev and scripts/test. Source it; do not run it.
# Every process is started here, recorded by PID, and stopped by that PID: nothing else on the machine is touched.
source "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

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
    ACTIVE_ORDERS_PER_USER=1000000 VERIFY_LIMIT=1000000
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

# The services are the binary's own list (`ticketing services --json`, in start order); nothing here repeats it.
# stack_services BIN_DIR reads it and fills:
#   STACK_ALL_SERVICES  every service, in start order
#   STACK_ROUTES        [service]=the nginx location regex of its path prefixes (CONTRACT.md section 1), '/' for the
#                       catch-all (the web front end, every other path); none for a service without routes (expiration
#                       only consumes and publishes events)
#   STACK_CATCH_ALL     the service whose route is '/', if any
#   STACK_DATABASES     [service]=1 for each service with a database of its own (see stack_has_database)
#   STACK_SERVICES      the services to start: all of them, unless the caller has set it (a benchmark starts only
#                       those on its path), in which case it is only checked
# stack_start calls it; a caller that needs the lists before that (scripts/cluster) calls it itself.
STACK_ALL_SERVICES=()
STACK_CATCH_ALL=
declare -gA STACK_ROUTES=() STACK_DATABASES=()
stack_services() {
  local bin=$1 json listing name database routes service
  json=$("$bin/ticketing" services --json) || {
    echo "stack: cannot run \`$bin/ticketing services --json\`: BIN_DIR must hold a built ticketing" >&2
    return 1
  }
  listing=$(python3 -c '
import json, re, sys
try:
    services = json.loads(sys.argv[1])["services"]
    for service in services:
        name, routes = service["name"], service["routes"]
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            sys.exit(f"a service name the scripts cannot use: {name!r}")
        prefixes = [re.escape(route) for route in routes]
        if "/" in routes:
            location = "/"
        elif prefixes:
            location = "^" + (prefixes[0] if len(prefixes) == 1 else "(" + "|".join(prefixes) + ")") + "(/|$)"
        else:
            location = "-"
        print(name, 1 if service["database"] else 0, location, sep="\t")
except (ValueError, KeyError, TypeError) as error:
    sys.exit(f"not the list of services it should be ({type(error).__name__}: {error})")
' "$json") || { echo "stack: \`$bin/ticketing services --json\` printed no list of services the scripts can read" >&2; return 1; }
  STACK_ALL_SERVICES=()
  STACK_CATCH_ALL=
  STACK_ROUTES=()
  STACK_DATABASES=()
  while IFS=$'\t' read -r name database routes; do
    STACK_ALL_SERVICES+=("$name")
    if [[ $database == 1 ]]; then STACK_DATABASES[$name]=1; fi
    if [[ $routes != - ]]; then STACK_ROUTES[$name]=$routes; fi
    if [[ $routes == / ]]; then STACK_CATCH_ALL=$name; fi
  done <<<"$listing"
  if ! declare -p STACK_SERVICES >/dev/null 2>&1; then STACK_SERVICES=("${STACK_ALL_SERVICES[@]}"); fi
  for service in "${STACK_SERVICES[@]}"; do
    if [[ " ${STACK_ALL_SERVICES[*]} " != *" $service "* ]]; then
      echo "stack: there is no service $service (the binary has: ${STACK_ALL_SERVICES[*]})" >&2
      return 1
    fi
  done
}

# stack_has_database NAME: whether the service has a database of its own (it then migrates it: serve --migrate).
stack_has_database() {
  [[ -n ${STACK_DATABASES[$1]:-} ]]
}

# swift_build CONFIGURATION ARGS…: swift build, linked as the release image links it (Dockerfile: the Swift runtime
# static) when CONFIGURATION is release, so a benchmark measures the deployed binary and every script shares one build
# (switching between static and dynamic linking rebuilds everything).
swift_build() {
  local configuration=$1
  shift
  if [[ $configuration == release ]]; then
    swift build -c release --static-swift-stdlib "$@"
  else
    swift build -c "$configuration" "$@"
  fi
}

# stack_nats DATA_DIR NODES: one JetStream node (named nats-server), or NODES of them in one cluster that route to each
# other (nats-1, nats-2, …), with the event stream replicated on every node. Exports NATS_URL (every node's client URL)
# and NATS_STREAM_REPLICAS.
stack_nats() {
  local data=$1 nodes=$2 node routes=() clients=() route_urls
  mkdir -p "$data/logs"
  if ((nodes == 1)); then
    clients=("$(free_port)")
    stack_spawn nats-server "$data/logs/nats.log" nats-server -js -sd "$data/nats" -a 127.0.0.1 -p "${clients[0]}" -n ticketing-dev
  else
    for ((node = 1; node <= nodes; node++)); do routes+=("$(free_port)"); clients+=("$(free_port)"); done
    route_urls=$(printf 'nats://127.0.0.1:%s,' "${routes[@]}")
    for ((node = 1; node <= nodes; node++)); do
      stack_spawn "nats-$node" "$data/logs/nats-$node.log" nats-server -js -sd "$data/nats-$node" -a 127.0.0.1 \
        -p "${clients[node - 1]}" -n "node-$node" --cluster_name ticketing --cluster "nats://127.0.0.1:${routes[node - 1]}" \
        --routes "${route_urls%,}"
    done
  fi
  local port
  for port in "${clients[@]}"; do wait_tcp "$port" 20; done
  NATS_URL=$(printf 'nats://127.0.0.1:%s,' "${clients[@]}")
  export NATS_URL=${NATS_URL%,} NATS_STREAM_REPLICAS=$nodes
}

# stack_databases DATA_DIR: one PostgreSQL server with a database per service that has one (stack_services first).
# Exports STACK_POSTGRES_PORT; stack_database_url NAME is then a service's DATABASE_URL.
stack_databases() {
  local data=$1 service
  STACK_POSTGRES_PORT=$(free_port)
  export STACK_POSTGRES_PORT
  stack_postgres "$data/pg" "$STACK_POSTGRES_PORT"
  for service in "${STACK_SERVICES[@]}"; do
    if stack_has_database "$service"; then
      as_postgres "$pg_bin/createdb" -h 127.0.0.1 -p "$STACK_POSTGRES_PORT" -U ticketing "$service"
    fi
  done
}
stack_database_url() {
  echo "postgres://ticketing@127.0.0.1:$STACK_POSTGRES_PORT/$1"
}

# stack_start DATA_DIR FRONT_PORT BIN_DIR: starts NATS, the Stripe emulator, the services (STACK_SERVICES, else every
# one) and nginx. A service with a database migrates it as it starts (serve --migrate; it has it to itself). Exports
# NATS_URL, STRIPE_API_BASE and the service ports (STACK_PORT_<service>) for the caller.
# STACK_STRIPE_PORT, if set, is the emulator's port (else a free one). STACK_NATS_NODES (default 1) is the size of the
# JetStream cluster; STACK_DATABASE=postgres gives the services PostgreSQL databases instead of SQLite files.
stack_start() {
  local data=$1 front=$2 bin=$3
  stack_services "$bin"
  mkdir -p "$data/logs"
  local logs=$data/logs

  stack_nats "$data" "${STACK_NATS_NODES:-1}"
  case ${STACK_DATABASE:=sqlite} in
    sqlite) ;;
    postgres) stack_databases "$data" ;;
    *) echo "stack: STACK_DATABASE must be sqlite or postgres" >&2; return 1 ;;
  esac

  stack_stripe "$data"
  export TICKETING_DATA_DIR=$data
  stack_internal_door
  local service port environment migrate
  for service in "${STACK_SERVICES[@]}"; do
    port=$(free_port)
    export "STACK_PORT_$service=$port"
    environment=(PORT="$port") migrate=()
    if stack_has_database "$service"; then
      migrate=(--migrate)
      [[ $STACK_DATABASE == postgres ]] && environment+=(DATABASE_URL="$(stack_database_url "$service")")
    fi
    stack_spawn "$service" "$logs/$service.log" \
      env "${environment[@]}" "$bin/ticketing" serve "$service" "${migrate[@]}" --hostname 127.0.0.1
  done
  for service in "${STACK_SERVICES[@]}"; do
    local var="STACK_PORT_$service"
    wait_http "http://127.0.0.1:${!var}/healthz" 60 || { tail -n 30 "$logs/$service.log" >&2; return 1; }
  done

  stack_front "$data" "$front"
}

# stack_prometheus DATA_DIR: starts Prometheus on a free loopback port, scraping every service's /metrics every 5 s
# with infra/alerts/rules.yml loaded; exports PROMETHEUS_URL. Call it after stack_start (it reads STACK_PORT_<service>).
stack_prometheus() {
  local data=$1 root port service var config
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  port=$(free_port)
  mkdir -p "$data/prometheus"
  config=$data/prometheus/prometheus.yml
  {
    echo "global: {scrape_interval: 5s, evaluation_interval: 5s}"
    echo "rule_files: ['$root/infra/alerts/rules.yml']"
    echo "scrape_configs:"
    for service in "${STACK_SERVICES[@]}"; do
      var="STACK_PORT_$service"
      echo "  - {job_name: $service, static_configs: [{targets: ['127.0.0.1:${!var}']}]}"
    done
  } > "$config"
  promtool check config "$config" >/dev/null
  stack_spawn prometheus "$data/logs/prometheus.log" prometheus --config.file="$config" \
    --storage.tsdb.path="$data/prometheus/data" --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=2d
  wait_http "http://127.0.0.1:$port/-/ready" 30
  export PROMETHEUS_URL=http://127.0.0.1:$port
}

# stack_traces DATA_DIR [discard]: starts scripts/trace-sink on a free port and points the services started after it at
# it (the standard OTEL_* variables, OTLP/HTTP JSON, spans sent within half a second); exports TRACE_FILE, its spans.
# With "discard" the sink only counts what it receives (a benchmark's: the cost measured is the services').
stack_traces() {
  local data=$1 discard=${2:+--discard} port root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  port=$(free_port)
  mkdir -p "$data/logs"
  export TRACE_FILE=$data/traces.jsonl
  stack_spawn trace-sink "$data/logs/trace-sink.log" "$root/scripts/trace-sink" serve --port "$port" --file "$TRACE_FILE" $discard
  wait_tcp "$port" 20
  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$port OTEL_EXPORTER_OTLP_PROTOCOL=http/json OTEL_BSP_SCHEDULE_DELAY=500
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
