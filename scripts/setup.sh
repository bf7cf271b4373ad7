#!/usr/bin/env bash
# Sets arkit up on a Debian machine: system packages that are missing (apt-get, with sudo
# when not root), the Python environment in .venv, the web client's npm packages and its
# build. Safe to run again: it skips what is already there.
#   scripts/setup.sh          what the main job needs
#   scripts/setup.sh --test   plus what the test suite needs (Debian's chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_needed=()
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_needed+=(python3-venv)
command -v node >/dev/null || apt_needed+=(nodejs npm)
if [ "$want_test" = 1 ]; then
  command -v chromium >/dev/null || apt_needed+=(chromium)
  command -v redis-server >/dev/null || apt_needed+=(redis-server)
  command -v pg_ctlcluster >/dev/null || apt_needed+=(postgresql)
fi
if [ ${#apt_needed[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "setup: installing ${apt_needed[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_needed[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "$want_test" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[test]"
else
  .venv/bin/python -m pip install -q -e .
fi

npm ci --prefix web_ar --no-audit --no-fund --loglevel=error
npm run --prefix web_ar --silent build
echo "setup: done (.venv, web_ar/node_modules, arkit_py/web/static)" >&2
