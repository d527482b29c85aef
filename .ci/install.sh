#!/usr/bin/env bash
# Makes a machine ready for the test suite: installs the Debian packages the
# tests use when they are missing and starts PostgreSQL and Redis when they
# are not running. Idempotent; safe to run on every test run.
set -euo pipefail

need=()
# Headless Chromium drives the hosted pages in browser tests.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Backup and restore tests use the PostgreSQL client tools.
command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
# The deployment tests run the nginx sample in front of two instances.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! pg_ready; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  pg_ready || { echo "PostgreSQL did not start" >&2; exit 1; }
fi

redis_ready() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }
if ! redis_ready; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis_ready && break; sleep 1; done
  redis_ready || { echo "Redis did not start" >&2; exit 1; }
fi
