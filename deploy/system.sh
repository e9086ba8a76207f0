#!/usr/bin/env bash
# What `make run`, `make test` and `make bench` need from the machine (Debian 12). Installs a package only when it
# is missing, and only as root or through sudo; starts PostgreSQL and Redis only when they do not answer.
#   deploy/system.sh python PYTHON   a Python >= 3.11 that can create a venv
#   deploy/system.sh redis-server    Debian's redis-server, for the embedded `hotline up`
#   deploy/system.sh postgres        PostgreSQL answering on 127.0.0.1:5432 (user postgres, no password)
#   deploy/system.sh redis           Redis answering on 127.0.0.1:6379
#   deploy/system.sh packages        the Debian packages of the telephony, speech, SMS and console parts (below)
set -euo pipefail

say() { echo "system: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    say "this needs root: $*"
    say "run it as root (or install sudo), then run make again."
    exit 1
  fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

packages() {
  local missing=()
  for pkg in "$@"; do installed "$pkg" || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    say "please install: ${missing[*]} (this script knows only Debian's apt-get)"
    exit 1
  fi
  say "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

python_ok() {
  "$1" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

need_python() {
  local python="$1"
  python_ok "$python" && return 0
  packages python3 python3-venv
  python_ok "$python" || { say "$python cannot create a venv, or is older than 3.11"; exit 1; }
}

pg_url="postgresql://postgres@127.0.0.1:5432/postgres"

pg_answers() { pg_isready -q -h 127.0.0.1 -p 5432; }
pg_login() { psql -w -q -X "$pg_url" -c 'select 1' >/dev/null 2>&1; }

need_postgres() {
  local fresh=0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    packages postgresql
    fresh=1
  fi
  local version
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  if ! pg_answers; then
    say "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  for _ in $(seq 1 60); do pg_answers && break; sleep 0.5; done
  pg_answers || { say "PostgreSQL does not answer on 127.0.0.1:5432"; exit 1; }
  if ! pg_login && [ $fresh = 1 ]; then
    # Only for a cluster this script has just installed: the tests log in as postgres without a password.
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    say "allowing user postgres from 127.0.0.1 and ::1 without a password in $hba (a fresh test cluster)"
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    sleep 1
  fi
  pg_login || { say "cannot log in as postgres on 127.0.0.1:5432 without a password; the tests need that" \
                    "(or set HOTLINE_TEST_PG_ADMIN_URL)"; exit 1; }
}

redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

need_redis() {
  command -v redis-server >/dev/null 2>&1 || packages redis-server
  if ! redis_answers; then
    say "starting Redis on 127.0.0.1:6379"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
  for _ in $(seq 1 40); do redis_answers && break; sleep 0.25; done
  redis_answers || { say "Redis does not answer on 127.0.0.1:6379"; exit 1; }
}

# Kamailio (SIP registrar and load balancer), SIPp and baresip (test callers), Kannel with fakesmsc (SMS), the
# Asterisk Russian prompts (human voice, CC-BY-3.0), festival/espeak-ng and sox (our own prompts), Chromium (the
# console's browser tests).
SYSTEM_PACKAGES=(kamailio kannel kannel-extras baresip-core sip-tester asterisk-core-sounds-ru-wav asterisk-core-sounds-ru festival festvox-ru
                 espeak-ng sox chromium)

case "${1:-}" in
  packages) packages "${SYSTEM_PACKAGES[@]}" ;;
  python) need_python "${2:?which python}" ;;
  redis-server) command -v redis-server >/dev/null 2>&1 || packages redis-server ;;
  postgres) if [ -n "${HOTLINE_TEST_PG_ADMIN_URL:-}" ]; then say "using HOTLINE_TEST_PG_ADMIN_URL"; else need_postgres; fi ;;
  redis) if [ -n "${HOTLINE_TEST_REDIS_URL:-}" ]; then say "using HOTLINE_TEST_REDIS_URL"; else need_redis; fi ;;
  *) echo "usage: $0 python PYTHON | redis-server | postgres | redis | packages" >&2; exit 2 ;;
esac
