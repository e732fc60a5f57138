#!/usr/bin/env bash
# Makes sure PostgreSQL (with PostGIS), MariaDB, Redis and memcached answer on
# loopback, starting those that do not, and prepares what the tests need.
# Exits non-zero, naming the service, when one cannot be brought up.
set -uo pipefail

failed=()

wait_for() {  # name, command...
  local name=$1; shift
  for _ in $(seq 1 30); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  failed+=("$name")
  return 1
}

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
fi
if wait_for postgresql pg_isready -q -h 127.0.0.1 -p 5432; then
  # Test databases are created by the tests; template1 carries PostGIS so they all have it.
  psql -q -h 127.0.0.1 -U postgres -d template1 -c "CREATE EXTENSION IF NOT EXISTS postgis" \
    || failed+=("postgis")
fi

if ! mysqladmin -h 127.0.0.1 -uroot ping >/dev/null 2>&1; then
  echo "services: starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
wait_for mariadb mysqladmin -h 127.0.0.1 -uroot ping

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
wait_for redis redis-cli -h 127.0.0.1 ping

# The port of DJP_MEMCACHED_LOCATION (CI runs two suites side by side, each with its own).
memcached_port=${DJP_MEMCACHED_LOCATION:-127.0.0.1:11211}
memcached_port=${memcached_port##*:}
memcached_up() { MEMCACHED_PORT=$memcached_port python3 - <<'PY'
import os, socket
with socket.create_connection(("127.0.0.1", int(os.environ["MEMCACHED_PORT"])), timeout=1) as s:
    s.sendall(b"version\r\n")
    assert s.recv(64).startswith(b"VERSION")
PY
}
if ! memcached_up >/dev/null 2>&1; then
  echo "services: starting memcached on port $memcached_port"
  memcached -d -u "$(id -un)" -l 127.0.0.1 -p "$memcached_port" -m 64 || true
fi
wait_for memcached memcached_up

if [ ${#failed[@]} -gt 0 ]; then
  echo "services: NOT answering: ${failed[*]}" >&2
  exit 1
fi
echo "services: postgresql, postgis, mariadb, redis and memcached answer on 127.0.0.1"
