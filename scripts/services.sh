#!/usr/bin/env bash
# Starts the real services the server tests use, when they are not running yet:
# redis-server on 127.0.0.1:6379 and PostgreSQL 15 (cluster "main") with a role and a
# database for the tests (arkit / arkit_test). No systemd needed.
set -euo pipefail
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

wait_port() {  # host port seconds
  for _ in $(seq 1 "$3"); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && { exec 3>&- 3<&-; return 0; }
    sleep 1
  done
  echo "services: nothing listens on $1:$2" >&2
  return 1
}

if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
fi
wait_port 127.0.0.1 6379 20

if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  $sudo pg_ctlcluster 15 main start
fi
wait_port 127.0.0.1 5432 30
psql_do() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -c "psql -v ON_ERROR_STOP=1 -qtAc \"$1\""
  else
    sudo -u postgres psql -v ON_ERROR_STOP=1 -qtAc "$1"
  fi
}
if [ "$(psql_do "SELECT 1 FROM pg_roles WHERE rolname='arkit'")" != "1" ]; then
  psql_do "CREATE ROLE arkit LOGIN PASSWORD 'arkit'"
fi
if [ "$(psql_do "SELECT 1 FROM pg_database WHERE datname='arkit_test'")" != "1" ]; then
  psql_do "CREATE DATABASE arkit_test OWNER arkit"
fi
echo "services: redis 127.0.0.1:6379, postgresql 127.0.0.1:5432 (arkit_test)" >&2
