#!/usr/bin/env bash
# Starts real Redis, Kafka, Cassandra and a MongoDB-compatible server (FerretDB, on SQLite or on
# PostgreSQL) on this machine, without Docker, for local development, tests and CI.  See
# docs/services.md.
#
#   scripts/services.sh up [SERVICE...]      install/build what is missing, start, wait until ready
#   scripts/services.sh down [SERVICE...]    stop what this script started (by recorded PID)
#   scripts/services.sh status [SERVICE...]  one line per service; exit 0 only if all are up
#   scripts/services.sh restart SERVICE...   stop and start again, same ports, data kept (fault tests)
#
# SERVICE is redis, kafka, cassandra or ferretdb (alias: mongo, mongodb); default: all four.
# STREAMLENS_FERRETDB_BACKEND=sqlite|postgresql picks FerretDB's storage (default: sqlite).  On
# postgresql, FerretDB comes with its own PostgreSQL server, the service `postgres` (alias
# postgresql), which every command on ferretdb also applies to.
#
# Why it works this way:
# - The build machines have no Docker engine and reach only package registries, so Redis comes
#   from apt, Kafka and Cassandra are assembled from their Maven Central jars, and FerretDB is
#   built from its Go module.  Every download is cached outside the repository (~/.m2, the Go
#   caches, ${XDG_CACHE_HOME:-~/.cache}/streamlens), so CI's fresh clones reuse it.
# - Data, logs and PID files live in a throw-away state folder, wiped for each service on `up`:
#   every `up` gives empty servers.  `up` on a service that this script already runs therefore
#   STOPS it and starts a fresh one (it never reuses a running instance).
# - Processes are stopped only by the PID recorded at start, and only if that PID still runs a
#   command line that names our state folder (so a recycled PID is never signalled).
# - Readiness means a real answer (PONG, a Kafka Metadata response, a CQL query, a Mongo ping),
#   not an open port.  Cassandra is the slowest, so it is launched first and the others start
#   while it boots.
# - Progress and errors go to stderr; on success stdout gets only KEY=value lines for clients,
#   so `export $(scripts/services.sh up)` works.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONF_SRC="$HERE/services"
PROBE="$CONF_SRC/probe.py"

STATE="${STREAMLENS_SERVICES_DIR:-/tmp/streamlens-services}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/streamlens"

KAFKA_VERSION="${STREAMLENS_KAFKA_VERSION:-4.1.2}"
CASSANDRA_VERSION="${STREAMLENS_CASSANDRA_VERSION:-5.0.8}"
FERRETDB_VERSION="${STREAMLENS_FERRETDB_VERSION:-v1.24.2}"
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"

REDIS_PORT="${STREAMLENS_REDIS_PORT:-6379}"
KAFKA_PORT="${STREAMLENS_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${STREAMLENS_KAFKA_CONTROLLER_PORT:-9093}"
CASSANDRA_PORT="${STREAMLENS_CASSANDRA_PORT:-9042}"
CASSANDRA_STORAGE_PORT="${STREAMLENS_CASSANDRA_STORAGE_PORT:-7000}"
FERRETDB_PORT="${STREAMLENS_FERRETDB_PORT:-27017}"
# Not 5432: a PostgreSQL that the machine already runs keeps its port.
POSTGRES_PORT="${STREAMLENS_POSTGRES_PORT:-54320}"

# FerretDB's storage: sqlite (files in its state folder) or postgresql (the service `postgres`).
FERRETDB_BACKEND="${STREAMLENS_FERRETDB_BACKEND:-sqlite}"
# PostgreSQL refuses to run as root: as root, it runs as this OS user (the one Debian's package
# creates; created here if missing).
POSTGRES_OS_USER="${STREAMLENS_POSTGRES_OS_USER:-postgres}"

# Readiness time-outs in seconds, counted from the moment the script starts waiting.
REDIS_TIMEOUT="${STREAMLENS_REDIS_TIMEOUT:-30}"
KAFKA_TIMEOUT="${STREAMLENS_KAFKA_TIMEOUT:-90}"
FERRETDB_TIMEOUT="${STREAMLENS_FERRETDB_TIMEOUT:-30}"
POSTGRES_TIMEOUT="${STREAMLENS_POSTGRES_TIMEOUT:-30}"
CASSANDRA_TIMEOUT="${STREAMLENS_CASSANDRA_TIMEOUT:-180}"
STOP_TIMEOUT="${STREAMLENS_STOP_TIMEOUT:-30}"

# Start order: Cassandra first, it is the slowest; PostgreSQL before the FerretDB that uses it.
# postgres is not one of the default four: it comes with ferretdb when FerretDB runs on it.
ALL_SERVICES=(cassandra redis kafka postgres ferretdb)
STARTED=()                                     # services launched by this invocation
T0="$(date +%s%N)"

# ------------------------------------------------------------------ small helpers
elapsed() { echo "$(( ($(date +%s%N) - T0) / 100000000 ))" | sed 's/\(.\)$/.\1/; s/^\./0./'; }
say() { echo "services.sh: $* (+$(elapsed) s)" >&2; }

# fail SERVICE MESSAGE [LOG]: names the failed step, shows the log's tail, stops what this run
# started, exits non-zero.
fail() {
  local svc="$1" msg="$2" log="${3:-}"
  if [ -n "$log" ]; then
    echo "services.sh: $svc: $msg (see $log)" >&2
    if [ -s "$log" ]; then
      echo "---- last lines of $log ----" >&2
      tail -n 25 "$log" >&2 || true
      echo "----" >&2
    fi
  else
    echo "services.sh: $svc: $msg" >&2
  fi
  if [ "${#STARTED[@]}" -gt 0 ]; then
    echo "services.sh: stopping what this run started: ${STARTED[*]}" >&2
    stop_services "${STARTED[@]}" >&2 || true
  fi
  exit 1
}

svc_dir() { echo "$STATE/$1"; }
# The working directories a running server of ours can have, one a line, which prove that a PID
# is ours (see our_pid): the service folder, where `launch` starts it, and for PostgreSQL also its
# data folder, which it moves into as it starts.
svc_workdirs() {
  echo "$STATE/$1"
  if [ "$1" = postgres ]; then echo "$STATE/$1/data"; fi
}
pid_file() { echo "$STATE/$1/$1.pid"; }
log_file() { echo "$STATE/$1/$1.log"; }

svc_address() {
  case "$1" in
    redis) echo "127.0.0.1:$REDIS_PORT" ;;
    kafka) echo "127.0.0.1:$KAFKA_PORT" ;;
    cassandra) echo "127.0.0.1:$CASSANDRA_PORT" ;;
    ferretdb) echo "127.0.0.1:$FERRETDB_PORT" ;;
    postgres) echo "127.0.0.1:$POSTGRES_PORT" ;;
  esac
}

svc_ports() {
  case "$1" in
    redis) echo "$REDIS_PORT" ;;
    kafka) echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ;;
    cassandra) echo "$CASSANDRA_PORT $CASSANDRA_STORAGE_PORT" ;;
    ferretdb) echo "$FERRETDB_PORT" ;;
    postgres) echo "$POSTGRES_PORT" ;;
  esac
}

# The ports a service was started with, kept in its folder so that `restart` and `status` use
# them whatever the caller's environment says.
ports_file() { echo "$STATE/$1/ports.env"; }

record_ports() {
  case "$1" in
    redis) echo "REDIS_PORT=$REDIS_PORT" ;;
    kafka) printf 'KAFKA_PORT=%s\nKAFKA_CONTROLLER_PORT=%s\n' "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" ;;
    cassandra) printf 'CASSANDRA_PORT=%s\nCASSANDRA_STORAGE_PORT=%s\n' "$CASSANDRA_PORT" "$CASSANDRA_STORAGE_PORT" ;;
    ferretdb) echo "FERRETDB_PORT=$FERRETDB_PORT" ;;
    postgres) echo "POSTGRES_PORT=$POSTGRES_PORT" ;;
  esac >"$(ports_file "$1")"
}

# The storage the FerretDB of this state folder was started on, so that `restart`, `down` and
# `status` treat its PostgreSQL with it whatever the caller's environment says.  A folder without
# the record predates the choice: SQLite.
backend_file() { echo "$STATE/ferretdb/backend"; }
recorded_backend() {
  local backend
  backend="$(cat "$(backend_file)" 2>/dev/null || true)"
  case "$backend" in
    postgresql) echo postgresql ;;
    *) echo sqlite ;;
  esac
}

# A folder from an up that predates ports.env: its ports as that up left them, in the rendered
# configuration or on the running server's command line (nothing when neither is there).
legacy_ports() {
  local dir pid variable
  dir="$(svc_dir "$1")"
  case "$1" in
    kafka)
      sed -n 's|^listeners=PLAINTEXT://[^:]*:\([0-9]*\),CONTROLLER://[^:]*:\([0-9]*\)$|KAFKA_PORT=\1\nKAFKA_CONTROLLER_PORT=\2|p' \
        "$dir/server.properties" ;;
    cassandra)
      sed -n 's/^native_transport_port: *\([0-9]*\)$/CASSANDRA_PORT=\1/p; s/^storage_port: *\([0-9]*\)$/CASSANDRA_STORAGE_PORT=\1/p' \
        "$dir/conf/cassandra.yaml" ;;
    redis | ferretdb)
      pid="$(our_pid "$1")" || return 0
      variable=REDIS_PORT
      [ "$1" = ferretdb ] && variable=FERRETDB_PORT
      tr '\0' ' ' <"/proc/$pid/cmdline" | grep -o '127\.0\.0\.1:[0-9]*' | head -n 1 | sed "s/^.*:/$variable=/" ;;
  esac 2>/dev/null || true
}

# Read, not sourced: only the known port variables, and only numbers.
load_recorded_ports() {
  local svc key value
  for svc in "$@"; do
    while IFS='=' read -r key value; do
      [[ "$value" =~ ^[0-9]+$ ]] || continue
      case "$key" in
        REDIS_PORT | KAFKA_PORT | KAFKA_CONTROLLER_PORT | CASSANDRA_PORT | CASSANDRA_STORAGE_PORT | FERRETDB_PORT | POSTGRES_PORT)
          printf -v "$key" '%s' "$value" ;;
      esac
    done < <(if [ -f "$(ports_file "$svc")" ]; then cat "$(ports_file "$svc")"; else legacy_ports "$svc"; fi)
  done
}

# True when something accepts TCP connections on 127.0.0.1:PORT (bash's /dev/tcp: no extra tool).
port_busy() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Prints the PID recorded for SERVICE if that process is alive and is really ours: every server
# is launched with its service folder as working directory (PostgreSQL then moves into its data
# folder, inside it), and a recycled PID, or a zombie, does not have it.  (The command line is no
# good marker: redis-server and postgres rewrite their process titles.)
our_pid() {
  local f pid cwd dir
  f="$(pid_file "$1")"
  [ -f "$f" ] || return 1
  pid="$(cat "$f" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null)" || return 1
  while IFS= read -r dir; do
    if [ "$cwd" = "$(cd "$dir" 2>/dev/null && pwd -P)" ]; then
      echo "$pid"
      return 0
    fi
  done < <(svc_workdirs "$1")
  return 1
}

# launch SERVICE COMMAND...: runs COMMAND in the service folder and in its own session (so a
# Ctrl-C or the end of this script does not reach it), output to the service log, and records
# its PID.  The subshell execs setsid, and setsid execs in place (a background child of a
# non-interactive shell is no group leader), so $! is the server's own PID.  fd 9 (our lock) is
# closed so the server does not hold it.
launch() {
  local svc="$1"
  shift
  (cd "$(svc_dir "$svc")" && exec setsid "$@" >>"$(log_file "$svc")" 2>&1 </dev/null 9>&-) &
  echo "$!" >"$(pid_file "$svc")"
  STARTED+=("$svc")
}

# stop_services SERVICE...: TERM to each recorded PID (INT to PostgreSQL: its TERM waits for every
# client to disconnect, INT is its "fast" shutdown, which ends the sessions and still writes a
# checkpoint), wait, then KILL the ones that linger.
stop_services() {
  local svc pid pids=() names=() i waited signal
  for svc in "$@"; do
    if pid="$(our_pid "$svc")"; then
      signal=TERM
      [ "$svc" = postgres ] && signal=INT
      kill "-$signal" "$pid" 2>/dev/null || true
      pids+=("$pid")
      names+=("$svc")
    else
      echo "services.sh: $svc: not running" >&2
    fi
    rm -f "$(pid_file "$svc")" 2>/dev/null || true
  done
  for i in "${!pids[@]}"; do
    waited=0
    # Gone, or a zombie (no working directory any more): done.
    while [ -n "$(readlink "/proc/${pids[$i]}/cwd" 2>/dev/null)" ]; do
      if [ "$waited" -ge $((STOP_TIMEOUT * 10)) ]; then
        echo "services.sh: ${names[$i]}: still running after ${STOP_TIMEOUT} s, sending KILL" >&2
        kill -KILL "${pids[$i]}" 2>/dev/null || true
        break
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
    echo "services.sh: ${names[$i]}: stopped (pid ${pids[$i]})" >&2
  done
}

# Java 17 for both JVMs: Cassandra 5.0 supports 11 and 17 only, Kafka 4 needs 17 or newer, and
# some machines also carry a newer JDK that Cassandra refuses.
find_java() {
  local c
  for c in "${STREAMLENS_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" \
    /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/*17*/bin/java "$(command -v java || true)"; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    if "$c" -XshowSettings:properties -version 2>&1 | grep -qE '^ *java\.specification\.version = 17$'; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

# A cache folder name that changes whenever the pom or the version changes.
pom_key() { cat "$1" <(echo "$2") | sha256sum | cut -c1-10; }

# fetch_jars SERVICE POM VERSION_PROPERTY VERSION: gathers the runtime jars into
# $CACHE/<service>-<version>-<key>/libs once (atomically: a temp folder renamed when complete),
# prints that libs folder.
fetch_jars() {
  local svc="$1" pom="$2" prop="$3" version="$4" dest tmp log
  command -v mvn >/dev/null 2>&1 || fail "$svc" "mvn (Maven) not found on PATH"
  dest="$CACHE/$svc-$version-$(pom_key "$pom" "$version")"
  if [ -f "$dest/.complete" ]; then
    say "$svc: jars cached in $dest/libs"
    echo "$dest/libs"
    return 0
  fi
  mkdir -p "$CACHE"
  log="$(svc_dir "$svc")/jars.log"
  say "$svc: downloading jars ($svc $version) into $dest"
  tmp="$(mktemp -d "$CACHE/.$svc-jars.XXXXXX")"
  if ! mvn -B -ntp -Dstyle.color=never -f "$pom" "-D$prop=$version" "$DEPENDENCY_PLUGIN" \
    -DoutputDirectory="$tmp/libs" -DincludeScope=runtime >"$log" 2>&1; then
    rm -rf "$tmp"
    fail "$svc" "jar download failed" "$log"
  fi
  touch "$tmp/.complete"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  echo "$dest/libs"
}

# render TEMPLATE OUTPUT KEY=VALUE...: replaces each @KEY@ in TEMPLATE.
render() {
  local template="$1" out="$2" kv expr=()
  shift 2
  for kv in "$@"; do
    expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
  done
  sed "${expr[@]}" "$template" >"$out"
}

# ------------------------------------------------------------------ preparation per service
prepare_redis() {
  local log installer=()
  log="$(svc_dir redis)/install.log"
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || fail redis "redis-server is not installed and apt-get is not available"
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail redis "redis-server is not installed and installing it needs root"
    installer=(sudo -n)
  fi
  local busy_before=no
  port_busy "$REDIS_PORT" && busy_before=yes
  say "redis: installing the redis-server package with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  # Without package lists (a fresh machine) apt-get knows no candidate: update first then.
  if ! apt-cache policy redis-server 2>/dev/null | grep -qE 'Candidate: [0-9]'; then
    "${installer[@]}" apt-get update >"$log" 2>&1 || fail redis "apt-get update failed" "$log"
  fi
  "${installer[@]}" apt-get install -y -q --no-install-recommends redis-server >>"$log" 2>&1 \
    || fail redis "apt-get install redis-server failed" "$log"
  # On a machine with a working init system the package starts its own redis on our port (the
  # build machines' policy-rc.d forbids it).  We caused it, so stop that service again.
  if [ "$busy_before" = no ] && port_busy "$REDIS_PORT"; then
    say "redis: the package started a system redis-server on port $REDIS_PORT; stopping that service"
    "${installer[@]}" invoke-rc.d redis-server stop >>"$log" 2>&1 \
      || "${installer[@]}" service redis-server stop >>"$log" 2>&1 || true
  fi
  say "redis: installed $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
}

start_redis() {
  local dir
  dir="$(svc_dir redis)"
  # No persistence: test data never needs to survive a restart.
  launch redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$dir" --protected-mode yes
}

# Waits for each named service to answer, fastest first, each with its own time-out.
wait_all_ready() {
  local svc
  for svc in redis kafka postgres ferretdb cassandra; do
    case " $* " in *" $svc "*) ;; *) continue ;; esac
    case "$svc" in
      redis) wait_ready redis "$REDIS_TIMEOUT" ;;
      kafka) wait_ready kafka "$KAFKA_TIMEOUT" ;;
      postgres) wait_ready postgres "$POSTGRES_TIMEOUT" ;;
      ferretdb) wait_ready ferretdb "$FERRETDB_TIMEOUT" ;;
      cassandra) wait_ready cassandra "$CASSANDRA_TIMEOUT" ;;
    esac
  done
}

ready_redis() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

start_kafka() {
  local dir libs props cluster_id log
  dir="$(svc_dir kafka)"
  libs="$(fetch_jars kafka "$CONF_SRC/kafka/pom.xml" kafka.version "$KAFKA_VERSION")"
  props="$dir/server.properties"
  render "$CONF_SRC/kafka/server.properties.in" "$props" \
    "PORT=$KAFKA_PORT" "CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT" "DATA_DIR=$dir/data"
  # Copied, so that a running broker does not depend on this checkout staying in place.
  cp "$CONF_SRC/kafka/log4j2.xml" "$dir/log4j2.xml"
  # A cluster id is 16 random bytes in unpadded base64url (22 characters). One in 64 starts
  # with '-', which the storage tool's argument parser would read as an option: draw again.
  cluster_id=-
  while [ "${cluster_id#-}" != "$cluster_id" ]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  log="$dir/format.log"
  "$JAVA" -Xmx256m -cp "$libs/*" -Dlog4j2.configurationFile="file:$dir/log4j2.xml" \
    kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$props" >"$log" 2>&1 \
    || fail kafka "storage format failed" "$log"
  launch_kafka "$libs"
}

# The formatted data folder and the rendered configuration are reused as they are: formatting
# again would refuse (or, forced, forget every topic and offset).
restart_kafka() {
  local libs
  [ -f "$(svc_dir kafka)/server.properties" ] || fail kafka "no configuration in $(svc_dir kafka) to restart from (start it with up)"
  libs="$(fetch_jars kafka "$CONF_SRC/kafka/pom.xml" kafka.version "$KAFKA_VERSION")"
  launch_kafka "$libs"
}

launch_kafka() {
  local dir
  dir="$(svc_dir kafka)"
  launch kafka "$JAVA" -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="file:$dir/log4j2.xml" \
    -cp "$1/*" kafka.Kafka "$dir/server.properties"
}

# The log line alone can precede the listener; the Metadata answer proves a registered broker.
ready_kafka() {
  grep -q "Kafka Server started" "$(log_file kafka)" 2>/dev/null \
    && python3 "$PROBE" kafka 127.0.0.1 "$KAFKA_PORT" >/dev/null 2>&1
}

start_cassandra() {
  local dir libs conf opts=() line
  dir="$(svc_dir cassandra)"
  libs="$(fetch_jars cassandra "$CONF_SRC/cassandra/pom.xml" cassandra.version "$CASSANDRA_VERSION")"
  conf="$dir/conf"
  mkdir -p "$conf" "$dir/data" "$dir/commitlog" "$dir/saved_caches" "$dir/hints" "$dir/triggers"
  render "$CONF_SRC/cassandra/cassandra.yaml.in" "$conf/cassandra.yaml" \
    "PORT=$CASSANDRA_PORT" "STORAGE_PORT=$CASSANDRA_STORAGE_PORT" "DATA_DIR=$dir"
  cp "$CONF_SRC/cassandra/logback.xml" "$conf/logback.xml"
  local modules
  modules="$("$JAVA" --list-modules 2>/dev/null)"
  while IFS= read -r line; do
    line="${line%%#*}"
    line="$(echo "$line" | xargs)"
    [ -n "$line" ] || continue
    # The jdk.attach / jdk.compiler flags only exist on a full JDK.
    case "$line" in
      *=jdk.attach/*) grep -q '^jdk.attach@' <<<"$modules" || continue ;;
      *=jdk.compiler/*) grep -q '^jdk.compiler@' <<<"$modules" || continue ;;
    esac
    opts+=("$line")
  done <"$CONF_SRC/cassandra/jvm17-server.options"
  launch cassandra "$JAVA" "${opts[@]}" \
    -Dcassandra.config="file://$conf/cassandra.yaml" \
    -Dlogback.configurationFile="$conf/logback.xml" \
    -Dcassandra.logdir="$dir/logs" -Dcassandra.storagedir="$dir" -Dcassandra.triggers_dir="$dir/triggers" \
    -cp "$conf:$libs/*" org.apache.cassandra.service.CassandraDaemon
}

ready_cassandra() {
  grep -q "Startup complete" "$(log_file cassandra)" 2>/dev/null \
    && python3 "$PROBE" cassandra 127.0.0.1 "$CASSANDRA_PORT" >/dev/null 2>&1
}

# FerretDB: `go install ...@version` builds a binary that panics at start-up because
# build/version/version.txt is not part of the module (FerretDB issue 2982).  So: download the
# module, copy it somewhere writable, write that file, build.  The binary is cached.
build_ferretdb() {
  local dest="$CACHE/ferretdb-$FERRETDB_VERSION" work log moddir
  if [ -x "$dest/ferretdb" ]; then
    echo "$dest/ferretdb"
    return 0
  fi
  command -v go >/dev/null 2>&1 || fail ferretdb "go not found on PATH"
  log="$(svc_dir ferretdb)/build.log"
  say "ferretdb: building FerretDB $FERRETDB_VERSION from its Go module (slow the first time)"
  mkdir -p "$CACHE"
  work="$(mktemp -d "$CACHE/.ferretdb-build.XXXXXX")"
  moddir="$(cd "$work" && go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" 2>>"$log" \
    | tee -a "$log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')" || true
  [ -n "$moddir" ] && [ -d "$moddir" ] || { rm -rf "$work"; fail ferretdb "go mod download failed" "$log"; }
  cp -r "$moddir" "$work/src"
  chmod -R u+w "$work/src"
  echo "$FERRETDB_VERSION" >"$work/src/build/version/version.txt"
  if ! (cd "$work/src" && CGO_ENABLED=0 go build -trimpath -o "$work/ferretdb" ./cmd/ferretdb) >>"$log" 2>&1; then
    rm -rf "$work"
    fail ferretdb "go build failed" "$log"
  fi
  mkdir -p "$dest"
  mv "$work/ferretdb" "$dest/ferretdb.tmp"
  mv "$dest/ferretdb.tmp" "$dest/ferretdb"
  rm -rf "$work"
  say "ferretdb: built $dest/ferretdb"
  echo "$dest/ferretdb"
}

# On postgresql, FerretDB keeps every MongoDB database as a schema of PostgreSQL's own `postgres`
# database (so nothing has to be created first); its connection pool connects on the first
# client, so FerretDB may start before PostgreSQL is ready.
start_ferretdb() {
  local dir bin storage=()
  dir="$(svc_dir ferretdb)"
  bin="$(build_ferretdb)"
  mkdir -p "$dir/state"
  case "$FERRETDB_BACKEND" in
    sqlite)
      mkdir -p "$dir/sqlite"
      storage=(--handler=sqlite --sqlite-url="file:$dir/sqlite/")
      ;;
    postgresql)
      storage=(--handler=postgresql --postgresql-url="postgres://postgres@127.0.0.1:$POSTGRES_PORT/postgres")
      ;;
  esac
  echo "$FERRETDB_BACKEND" >"$(backend_file)"
  launch ferretdb "$bin" "${storage[@]}" \
    --listen-addr="127.0.0.1:$FERRETDB_PORT" --state-dir="$dir/state" \
    --debug-addr=- --telemetry=disable
}

# On postgresql the ping goes through to PostgreSQL (FerretDB's pool connects to answer it).
ready_ferretdb() { python3 "$PROBE" mongo 127.0.0.1 "$FERRETDB_PORT" >/dev/null 2>&1; }

# The newest PostgreSQL server installed the Debian way (/usr/lib/postgresql/<major>/bin), or
# STREAMLENS_POSTGRES_BINDIR.
postgres_bindir() {
  local dir
  for dir in "${STREAMLENS_POSTGRES_BINDIR:-}" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -n "$dir" ] && [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_isready" ] && {
      echo "$dir"
      return 0
    }
  done
  return 1
}

# Installs Debian's `postgresql` when no server is installed, and (as root) makes sure the OS
# user it runs as exists.  Sets PG_BIN and AS_PG_USER (the command prefix that runs a program as
# that user; empty when this script does not run as root, since PostgreSQL then runs as the
# caller).
prepare_postgres() {
  local log installer=() busy_before=no
  log="$(svc_dir postgres)/install.log"
  if ! PG_BIN="$(postgres_bindir)"; then
    command -v apt-get >/dev/null 2>&1 || fail postgres "PostgreSQL is not installed and apt-get is not available"
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null 2>&1 || fail postgres "PostgreSQL is not installed and installing it needs root"
      installer=(sudo -n)
    fi
    port_busy 5432 && busy_before=yes
    say "postgres: installing the postgresql package with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache policy postgresql 2>/dev/null | grep -qE 'Candidate: [0-9]'; then
      "${installer[@]}" apt-get update >"$log" 2>&1 || fail postgres "apt-get update failed" "$log"
    fi
    "${installer[@]}" apt-get install -y -q --no-install-recommends postgresql >>"$log" 2>&1 \
      || fail postgres "apt-get install postgresql failed" "$log"
    # On a machine with a working init system the package starts its own cluster on 5432 (the
    # build machines' policy-rc.d forbids it).  We caused it, so stop that service again.
    if [ "$busy_before" = no ] && port_busy 5432; then
      say "postgres: the package started a system PostgreSQL on port 5432; stopping that service"
      "${installer[@]}" invoke-rc.d postgresql stop >>"$log" 2>&1 \
        || "${installer[@]}" service postgresql stop >>"$log" 2>&1 || true
    fi
    PG_BIN="$(postgres_bindir)" || fail postgres "the postgresql package left no server in /usr/lib/postgresql/*/bin" "$log"
    say "postgres: installed $("$PG_BIN/postgres" --version)"
  fi
  AS_PG_USER=()
  if [ "$(id -u)" -eq 0 ]; then
    command -v setpriv >/dev/null 2>&1 || fail postgres "setpriv (util-linux) is needed to run PostgreSQL as $POSTGRES_OS_USER"
    if ! id -u "$POSTGRES_OS_USER" >/dev/null 2>&1; then
      say "postgres: creating the system user $POSTGRES_OS_USER to run PostgreSQL (it refuses root)"
      useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        "$POSTGRES_OS_USER" >>"$log" 2>&1 || fail postgres "useradd $POSTGRES_OS_USER failed" "$log"
    fi
    # setpriv execs in place (unlike su or runuser), so the PID that launch records is the server's.
    AS_PG_USER=(setpriv "--reuid=$POSTGRES_OS_USER" "--regid=$(id -g "$POSTGRES_OS_USER")" --init-groups)
  fi
}

# A new cluster when the data folder has none (up), the existing one otherwise (restart).  The
# settings are those of a throw-away test server: only loopback TCP, no Unix socket (its
# default folder needs root to create), any local client trusted (as with this Redis), and no
# fsync: a crash of the server loses nothing (the operating system still has every write), only
# a crash of the machine could, and this data never outlives one.
start_postgres() {
  local dir data log
  dir="$(svc_dir postgres)"
  data="$dir/data"
  prepare_postgres
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    chmod 700 "$data"
    if [ "${#AS_PG_USER[@]}" -gt 0 ]; then
      chown "$POSTGRES_OS_USER:" "$data"
      # The server user must reach its data folder through ours.
      chmod o+x "$STATE" "$dir"
      "${AS_PG_USER[@]}" test -w "$data" \
        || fail postgres "$POSTGRES_OS_USER cannot write $data (a parent folder of STREAMLENS_SERVICES_DIR is closed to it)"
    fi
    log="$dir/initdb.log"
    "${AS_PG_USER[@]}" "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C \
      --no-sync >"$log" 2>&1 || fail postgres "initdb failed" "$log"
  fi
  launch postgres "${AS_PG_USER[@]}" "$PG_BIN/postgres" -D "$data" -p "$POSTGRES_PORT" \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories= \
    -c fsync=off -c full_page_writes=off
}

ready_postgres() {
  local bin
  bin="${PG_BIN:-$(postgres_bindir)}" || return 1
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d postgres
}

wait_ready() {
  local svc="$1" timeout="$2" start
  start=$SECONDS
  while ! "ready_$svc"; do
    our_pid "$svc" >/dev/null || fail "$svc" "exited during start-up" "$(log_file "$svc")"
    [ $((SECONDS - start)) -lt "$timeout" ] \
      || fail "$svc" "not ready after $timeout s" "$(log_file "$svc")"
    sleep 0.5
  done
  say "$svc: ready on $(svc_address "$svc") (pid $(our_pid "$svc"))"
}

client_env() {
  local svc
  for svc in "$@"; do
    case "$svc" in
      kafka) echo "KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT" ;;
      ferretdb) echo "MONGODB_URL=mongodb://127.0.0.1:$FERRETDB_PORT/streamlens" ;;
      cassandra)
        echo "CASSANDRA_CONTACT_POINTS=127.0.0.1:$CASSANDRA_PORT"
        echo "CASSANDRA_LOCAL_DC=datacenter1"
        ;;
      redis) echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT" ;;
    esac
  done
}

# ------------------------------------------------------------------ commands
# select_services BACKEND [SERVICE...]: orders the requested services as in ALL_SERVICES and
# resolves aliases; ferretdb on BACKEND postgresql brings postgres with it.
select_services() {
  local backend="$1" want=() s a out=()
  shift
  for a in "$@"; do
    case "$a" in
      redis | kafka | cassandra | ferretdb | postgres) want+=("$a") ;;
      mongo | mongodb) want+=(ferretdb) ;;
      postgresql) want+=(postgres) ;;
      *) echo "services.sh: unknown service '$a' (expected redis, kafka, cassandra, ferretdb, postgres)" >&2; exit 2 ;;
    esac
  done
  [ "${#want[@]}" -gt 0 ] || want=(cassandra redis kafka ferretdb)
  if [ "$backend" = postgresql ] && [[ " ${want[*]} " == *" ferretdb "* ]]; then want+=(postgres); fi
  for s in "${ALL_SERVICES[@]}"; do
    for a in "${want[@]}"; do
      if [ "$a" = "$s" ]; then out+=("$s"); break; fi
    done
  done
  echo "${out[@]}"
}

lock_state() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w 600 9 || { echo "services.sh: another services.sh holds $STATE/.lock" >&2; exit 1; }
}

cmd_up() {
  local services svc port selected
  selected="$(select_services "$FERRETDB_BACKEND" "$@")" || exit 2
  read -r -a services <<<"$selected"
  lock_state
  command -v python3 >/dev/null 2>&1 || fail services "python3 is needed for the readiness probes"

  # Stop our previous instances (fresh data each time; all signalled at once), then wipe their
  # folders.  A PostgreSQL that an earlier up started for FerretDB goes too when FerretDB now
  # runs on SQLite.
  local running=()
  for svc in "${services[@]}"; do
    our_pid "$svc" >/dev/null && running+=("$svc")
  done
  if [[ " ${services[*]} " == *" ferretdb "* && " ${services[*]} " != *" postgres "* ]] && our_pid postgres >/dev/null; then
    running+=(postgres)
  fi
  if [ "${#running[@]}" -gt 0 ]; then
    say "already running from an earlier up: ${running[*]}; restarting with fresh data"
    stop_services "${running[@]}"
  fi
  for svc in "${services[@]}"; do
    rm -rf "${STATE:?}/$svc"
    mkdir -p "$STATE/$svc"
    record_ports "$svc"
    for port in $(svc_ports "$svc"); do
      port_busy "$port" && fail "$svc" "port 127.0.0.1:$port is already in use by a process this script did not start (stop it, or set STREAMLENS_*_PORT)"
    done
  done

  case " ${services[*]} " in
    *" kafka "* | *" cassandra "*)
      JAVA="$(find_java)" || fail java "no Java 17 found (set STREAMLENS_JAVA to a Java 17 binary)"
      ;;
  esac

  # Launch: Cassandra first (slowest to boot), the others prepare and start while it boots.
  for svc in "${services[@]}"; do
    case "$svc" in
      redis) prepare_redis; start_redis ;;
      *) "start_$svc" ;;
    esac
    say "$svc: launched (pid $(cat "$(pid_file "$svc")"), log $(log_file "$svc"))"
  done
  wait_all_ready "${services[@]}"
  say "all ready: ${services[*]}"
  client_env "${services[@]}"
}

cmd_down() {
  local services selected
  [ -d "$STATE" ] || { echo "services.sh: nothing to stop ($STATE does not exist)" >&2; return 0; }
  selected="$(select_services "$(recorded_backend)" "$@")" || exit 2
  read -r -a services <<<"$selected"
  lock_state
  stop_services "${services[@]}"
}

# Stop and start again on the same ports, over the data already there: what a crash-and-recover
# of the server looks like to its clients.  A service that is not running is just started.
cmd_restart() {
  local services svc port selected
  [ $# -ge 1 ] || { echo "services.sh: restart needs the services to restart (redis, kafka, cassandra, ferretdb, postgres)" >&2; exit 2; }
  # FerretDB comes back on the storage it was started on (and with its PostgreSQL).
  FERRETDB_BACKEND="$(recorded_backend)"
  selected="$(select_services "$FERRETDB_BACKEND" "$@")" || exit 2
  read -r -a services <<<"$selected"
  lock_state
  command -v python3 >/dev/null 2>&1 || fail services "python3 is needed for the readiness probes"
  # A folder from an up before ports were recorded has no ports.env, but has its log.
  for svc in "${services[@]}"; do
    [ -f "$(ports_file "$svc")" ] || [ -f "$(log_file "$svc")" ] \
      || fail "$svc" "nothing to restart in $(svc_dir "$svc") (start it with up; STREAMLENS_SERVICES_DIR must be the one it was started with)"
  done
  # Before stopping anything: a legacy folder's ports may be read from the running server.
  load_recorded_ports "${services[@]}"
  for svc in "${services[@]}"; do record_ports "$svc"; done

  local running=()
  for svc in "${services[@]}"; do
    our_pid "$svc" >/dev/null && running+=("$svc")
  done
  [ "${#running[@]}" -eq 0 ] || stop_services "${running[@]}"
  for svc in "${services[@]}"; do
    for port in $(svc_ports "$svc"); do
      port_busy "$port" && fail "$svc" "port 127.0.0.1:$port is still in use after the stop"
    done
    # A fresh log: the readiness checks look for start-up lines that the old one already has.
    mv -f "$(log_file "$svc")" "$(log_file "$svc").previous" 2>/dev/null || true
  done

  case " ${services[*]} " in
    *" kafka "* | *" cassandra "*)
      JAVA="$(find_java)" || fail java "no Java 17 found (set STREAMLENS_JAVA to a Java 17 binary)"
      ;;
  esac
  for svc in "${services[@]}"; do
    case "$svc" in
      kafka) restart_kafka ;;
      *) "start_$svc" ;;   # the others only create folders that are missing and render the same configuration
    esac
    say "$svc: relaunched (pid $(cat "$(pid_file "$svc")"), log $(log_file "$svc"))"
  done
  wait_all_ready "${services[@]}"
  say "restarted: ${services[*]}"
  client_env "${services[@]}"
}

cmd_status() {
  local services svc pid state rc=0 detail selected
  selected="$(select_services "$(recorded_backend)" "$@")" || exit 2
  read -r -a services <<<"$selected"
  load_recorded_ports "${services[@]}"
  for svc in "${services[@]}"; do
    if pid="$(our_pid "$svc")"; then
      if "ready_$svc"; then state=up; else state=starting; rc=3; fi
      detail="pid $pid"
    else
      state=down
      detail="-"
      rc=3
    fi
    printf '%-10s %-9s %-11s %s\n' "$svc" "$state" "$detail" "$(svc_address "$svc")"
  done
  return "$rc"
}

usage() {
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  [ $# -ge 1 ] || usage
  case "$FERRETDB_BACKEND" in
    sqlite | postgresql) ;;
    *) echo "services.sh: STREAMLENS_FERRETDB_BACKEND must be sqlite or postgresql, not '$FERRETDB_BACKEND'" >&2; exit 2 ;;
  esac
  local cmd="$1"
  shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    restart) cmd_restart "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
