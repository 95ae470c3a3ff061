#!/usr/bin/env bash
# Single-node OpenStack Swift + s3api for tests, run as plain processes.
# Usage: swift-s3.sh start|stop|status   (env: S3_BASE, S3_PORT, S3_STORAGE=disk|tmpfs)
set -eEuo pipefail
BASE=${S3_BASE:-/tmp/swift-s3}
PORT=${S3_PORT:-18080}          # S3/Swift proxy
OBJ_PORT=$((PORT+120)) CONT_PORT=$((PORT+121)) ACCT_PORT=$((PORT+122))
ETC=$BASE/etc RUN=$BASE/run LOG=$BASE/log DEVS=$BASE/srv
RUNUSER=$(id -un)
# Debian packages: /usr/bin/python3 + /usr/bin/swift-*; a pip venv: SWIFT_BIN=/path/venv/bin
SWIFT_BIN=${SWIFT_BIN:-/usr/bin}
SWIFT_PY=$SWIFT_BIN/python3

write_conf() {
  mkdir -p "$ETC" "$RUN" "$LOG" "$DEVS/d1"
  # Swift >= 2.3x (PyPI) reads swift.conf from swift_dir; Debian's 2.30 reads /etc/swift/swift.conf
  # (shipped by the "swift" package with the same content) and ignores this copy.
  cat >"$ETC/swift.conf" <<CONF
[swift-hash]
swift_hash_path_suffix = s3test
swift_hash_path_prefix = s3test

[storage-policy:0]
name = Policy-0
default = yes
CONF
  local common="[DEFAULT]
bind_ip = 127.0.0.1
workers = 0
user = $RUNUSER
swift_dir = $ETC
devices = $DEVS
mount_check = false
disable_fallocate = true
log_level = INFO
log_name = %s
"
  printf "$common" object-server >"$ETC/object-server.conf"
  cat >>"$ETC/object-server.conf" <<CONF
bind_port = $OBJ_PORT

[pipeline:main]
pipeline = object-server

[app:object-server]
use = egg:swift#object
CONF
  printf "$common" container-server >"$ETC/container-server.conf"
  cat >>"$ETC/container-server.conf" <<CONF
bind_port = $CONT_PORT

[pipeline:main]
pipeline = container-server

[app:container-server]
use = egg:swift#container
CONF
  printf "$common" account-server >"$ETC/account-server.conf"
  cat >>"$ETC/account-server.conf" <<CONF
bind_port = $ACCT_PORT

[pipeline:main]
pipeline = account-server

[app:account-server]
use = egg:swift#account
CONF
  cat >"$ETC/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PORT
workers = 0
user = $RUNUSER
swift_dir = $ETC
log_level = INFO
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
s3_acl = false

[filter:tempauth]
use = egg:swift#tempauth
# user_<account>_<user> = <password/secret> [groups]; S3 access key = "account:user"
user_test_tester = testing .admin

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:versioned_writes]
use = egg:swift#versioned_writes
[filter:dlo]
use = egg:swift#dlo
CONF
}

build_rings() {
  # 1 replica, 2^6 partitions, min_part_hours 0; one device "d1" per ring.
  # Same as: swift-ring-builder X.builder create 6 1 0; ... add r1z1-127.0.0.1:PORT/d1 1; ... rebalance
  # (done in one interpreter: 0.4 s instead of 3 s for 9 CLI calls)
  "$SWIFT_PY" - "$ETC" "$OBJ_PORT" "$CONT_PORT" "$ACCT_PORT" <<'PY'
import sys
from swift.common.ring import RingBuilder
for name, port in zip(("object", "container", "account"), map(int, sys.argv[2:])):
    b = RingBuilder(6, 1, 0)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port,
               "device": "d1", "weight": 1})
    b.rebalance()
    b.get_ring().save(f"{sys.argv[1]}/{name}.ring.gz")
PY
}

start() {
  [ -e "$RUN/proxy.pid" ] && { echo "already started? ($RUN/proxy.pid exists)"; exit 1; }
  if [ "${S3_STORAGE:-disk}" = tmpfs ]; then
    mkdir -p "$DEVS"; mountpoint -q "$DEVS" || mount -t tmpfs -o size=${S3_TMPFS_SIZE:-1g} tmpfs "$DEVS"
  fi
  for p in $PORT $OBJ_PORT $CONT_PORT $ACCT_PORT; do   # refuse to start on a busy port
    if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "port $p already in use" >&2; exit 1; fi
  done
  trap 'echo "start failed; cleaning up" >&2; trap - ERR; stop' ERR
  write_conf; build_rings
  for s in object container account proxy; do
    "$SWIFT_PY" "$SWIFT_BIN/swift-$s-server" "$ETC/$s-server.conf" --verbose >"$LOG/$s.log" 2>&1 &
    echo $! >"$RUN/$s.pid"
  done
  # wait for the S3 endpoint (healthcheck + account/container/object servers)
  for i in $(seq 1 150); do
    for s in object container account proxy; do
      alive "$(cat "$RUN/$s.pid")" || { echo "$s-server exited" >&2; i=999; }
    done
    [ $i = 999 ] && break
    if curl -fsS "http://127.0.0.1:$PORT/healthcheck" >/dev/null 2>&1; then
      ok=1
      for p in $OBJ_PORT $CONT_PORT $ACCT_PORT; do
        # any HTTP answer (even 4xx) means the server is up; 000 = no connection
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/")" = 000 ] && ok=0
      done
      [ $ok = 1 ] && { trap - ERR; echo "swift s3api up on http://127.0.0.1:$PORT"; return 0; }
    fi
    sleep 0.2
  done
  trap - ERR; echo "swift did not come up; logs:" >&2; tail -n 20 "$LOG"/*.log >&2; stop; exit 1
}

alive() {  # a zombie (exited, not yet reaped by its parent/init) counts as dead
  [ -e "/proc/$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

stop() {
  local pids=() s f pid i
  for s in proxy object container account; do
    f=$RUN/$s.pid
    [ -e "$f" ] || continue
    pid=$(cat "$f"); rm -f "$f"
    kill "$pid" 2>/dev/null && pids+=("$pid")
  done
  for i in $(seq 1 50); do   # up to 5 s for a clean exit, then SIGKILL
    local left=()
    for pid in "${pids[@]}"; do alive "$pid" && left+=("$pid"); done
    pids=("${left[@]}"); [ ${#pids[@]} = 0 ] && break; sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  mountpoint -q "$DEVS" 2>/dev/null && umount "$DEVS"
  [ "${S3_KEEP:-0}" = 1 ] || rm -rf "$BASE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) for s in object container account proxy; do f=$RUN/$s.pid; [ -e "$f" ] && alive "$(cat $f)" && echo "$s up pid $(cat $f)" || echo "$s down"; done ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
