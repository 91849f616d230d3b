#!/usr/bin/env bash
# A ClickHouse server as a plain process, from Debian's clickhouse-server package (18.16).
#
# Debian 12 ships only ClickHouse 18.16, too old for schemas/clickhouse/tables.sql
# (DateTime64, now64, CODEC, JSONExtract*). It serves as a real, killable native-protocol peer for
# the tests of the clickhouse-driver adapter (product_analytics/clickhouse/server.py) on tables
# that 18.16 supports. The package's own service is disabled: nothing runs it but this script.
#
#   deploy/clickhouse-server.sh install   install the Debian package if missing (needs root or sudo)
#   deploy/clickhouse-server.sh start     write the config, start, wait until it answers
#   deploy/clickhouse-server.sh stop      stop the server started from CH_SERVER_DATA, keep its data
#   deploy/clickhouse-server.sh status    exit 0 when the server answers on CH_SERVER_HTTP_PORT
#
# Settings (environment): CH_SERVER_DATA (data/clickhouse-server), CH_SERVER_PORT (19000, native
# protocol), CH_SERVER_HTTP_PORT (18124). It listens on 127.0.0.1 only, user `default`, no password:
#   clickhouse://default:@127.0.0.1:19000/default
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
port=${CH_SERVER_PORT:-19000}
http_port=${CH_SERVER_HTTP_PORT:-18124}
data=$(realpath -m "${CH_SERVER_DATA:-$root/data/clickhouse-server}")
binary=/usr/sbin/clickhouse-server
pidfile="$data/clickhouse-server.pid"

log() { printf 'clickhouse-server: %s\n' "$*" >&2; }

# The HTTP interface answers "Ok." on /ping once the server accepts queries.
answers() {
  local reply
  # shellcheck disable=SC2016  # expanded by the inner bash
  reply=$(timeout 2 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
    cat <&3' _ "$http_port" 2>/dev/null) || true
  [[ $reply == *"Ok."* ]]
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A process that exists and is not a zombie (a killed server may wait for its reaper a while).
alive() { local state; state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) && state=${state%% *} && [ -n "$state" ] && [ "$state" != Z ]; }

# The pid in the pid file, when that process is a clickhouse-server still running.
running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--config-file=$data/etc/config.xml" || return 1
  echo "$pid"
}

install() {
  if [ -x "$binary" ]; then return 0; fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { log "$binary missing and not root: apt-get install clickhouse-server as root"; exit 1; }
    sudo="sudo"
  fi
  # Keep the package's postinst from starting its service: a policy-rc.d that denies every
  # start, only for the length of the install, unless the machine already has one.
  local policy=/usr/sbin/policy-rc.d own_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    own_policy=1
    # shellcheck disable=SC2064  # expanded now, on purpose
    trap "$sudo rm -f $policy" EXIT
  fi
  log "installing Debian's clickhouse-server package"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    clickhouse-server >/dev/null
  if [ -n "$own_policy" ]; then $sudo rm -f "$policy"; trap - EXIT; fi
  # This script runs the server; the package's service must neither run now nor start at boot.
  if [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now clickhouse-server.service >/dev/null 2>&1 || true
  else
    $sudo systemctl disable clickhouse-server.service >/dev/null 2>&1 || true
    $sudo /etc/init.d/clickhouse-server stop >/dev/null 2>&1 || true
  fi
  $sudo update-rc.d clickhouse-server disable >/dev/null 2>&1 || true
  [ -x "$binary" ] || { log "the package installed no $binary"; exit 1; }
}

write_config() {
  mkdir -p "$data/etc" "$data/log"
  cat >"$data/etc/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by deploy/clickhouse-server.sh on every start; edits are overwritten. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>$data/log/clickhouse-server.log</log>
        <errorlog>$data/log/clickhouse-server.err.log</errorlog>
        <size>10M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$port</tcp_port>
    <http_port>$http_port</http_port>
    <path>$data/db/</path>
    <tmp_path>$data/tmp/</tmp_path>
    <user_files_path>$data/user_files/</user_files_path>
    <format_schema_path>$data/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
</yandex>
EOF
  cat >"$data/etc/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default></default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default></default>
    </quotas>
</yandex>
EOF
}

start() {
  install
  local pid
  if pid=$(running_pid); then
    wait_ready "$pid"
    return 0
  fi
  for p in "$port" "$http_port"; do
    if port_taken "$p"; then
      log "port 127.0.0.1:$p is taken by another process; set CH_SERVER_PORT / CH_SERVER_HTTP_PORT"
      exit 1
    fi
  done
  write_config
  # As root the server runs as root; otherwise as the calling user (clickhouse, say).
  log "starting on 127.0.0.1:$port (http $http_port), data in $data"
  "$binary" --config-file="$data/etc/config.xml" >"$data/log/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_ready "$!"
}

wait_ready() {
  local pid=$1
  for _ in $(seq 1 300); do
    if answers && port_taken "$port"; then return 0; fi
    if ! alive "$pid"; then
      log "server exited during start-up; last lines of its logs:"
      tail -n 20 "$data/log/stdout.log" "$data/log/clickhouse-server.err.log" >&2 2>/dev/null || true
      rm -f "$pidfile"
      exit 1
    fi
    sleep 0.1
  done
  log "server did not answer within 30 s; see $data/log"
  exit 1
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do alive "$pid" || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
  rm -f "$pidfile"
  log "server stopped"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) answers ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
