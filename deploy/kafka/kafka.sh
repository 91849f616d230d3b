#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft) as a plain process, from Maven Central jars.
#
#   deploy/kafka/kafka.sh install   resolve the broker jars into the cache (once)
#   deploy/kafka/kafka.sh start     format storage if new, start, wait until it accepts connections
#   deploy/kafka/kafka.sh stop      stop the broker started from KAFKA_DATA, keep its data
#   deploy/kafka/kafka.sh status    exit 0 when the broker answers on KAFKA_PORT
#
# Settings (environment): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
# KAFKA_DATA (data/kafka), KAFKA_CACHE (.cache/kafka), KAFKA_HEAP (512m).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-9093}
data=$(realpath -m "${KAFKA_DATA:-$root/data/kafka}")
cache=$(realpath -m "${KAFKA_CACHE:-$root/.cache/kafka}")
libs="$cache/$version/libs"
heap=${KAFKA_HEAP:-512m}
pidfile="$data/kafka.pid"

log() { printf 'kafka: %s\n' "$*" >&2; }

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

install() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  command -v java >/dev/null || { log "java not found: install a Java 17 runtime (apt-get install openjdk-17-jre-headless)"; exit 1; }
  command -v mvn >/dev/null || { log "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  log "resolving Apache Kafka $version from Maven Central into $libs"
  rm -rf "$libs" && mkdir -p "$libs"
  mkdir -p "$cache"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime >"$cache/mvn.log" 2>&1 \
    || { cat "$cache/mvn.log" >&2; log "Maven could not resolve the broker jars (log above)"; exit 1; }
  touch "$libs/.complete"
}

java_run() {
  local main=$1; shift
  # exec: when run in the background, $! is then the JVM itself, which `stop` signals.
  exec java -Xms128m -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$data" -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -cp "$libs/*" "$main" "$@"
}

start() {
  install
  if answers; then log "broker already answering on 127.0.0.1:$port"; return 0; fi
  mkdir -p "$data"
  sed -e "s:@PORT@:$port:g" -e "s:@CONTROLLER_PORT@:$controller_port:g" -e "s:@DATA@:$data:g" \
    "$here/server.properties" > "$data/server.properties"
  if [ ! -f "$data/log/meta.properties" ]; then
    local cluster_id
    # A base64url uuid, as kafka-storage random-uuid makes; one starting with '-' would
    # read as an option, so draw again.
    cluster_id=$(python3 -c '
import base64, uuid
while (c := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
    pass
print(c)')
    log "formatting KRaft storage in $data/log (cluster $cluster_id)"
    (java_run kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$data/server.properties") \
      >"$data/format.log" 2>&1 || { cat "$data/format.log" >&2; exit 1; }
  fi
  log "starting broker on 127.0.0.1:$port (logs in $data/server.log)"
  (java_run kafka.Kafka "$data/server.properties") >"$data/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    if answers; then log "broker ready"; return 0; fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "broker exited during start-up; last lines of $data/stdout.log and server.log:"
      tail -n 20 "$data/stdout.log" "$data/server.log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  log "broker did not answer within 60 s; see $data/server.log"
  exit 1
}

stop() {
  [ -f "$pidfile" ] || { log "no pid file in $data: nothing to stop"; return 0; }
  local pid
  pid=$(cat "$pidfile")
  # Only our broker: after a reboot the pid may belong to something else.
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $data/"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "broker stopped"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) answers ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
