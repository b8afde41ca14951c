#!/usr/bin/env bash
# Check every Debian package that `make run` (or, with `test`, `make test`) needs before anything
# else runs, then install all the missing ones in one apt-get call as root, or name them all.
#
#   scripts/packages.sh run|test
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRIPT_NAME=packages
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
python=${PYTHON:-python3}
missing=()

if ! command -v "$python" >/dev/null; then
  missing+=(python3 python3-venv)
elif [ ! -x "$ROOT/.venv/bin/python" ] && ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)  # Debian ships `python3 -m venv` without ensurepip
fi
if [ -z "${DATABASE_URL:-}" ] && [ -z "$(postgres_bindir)" ]; then missing+=(postgresql); fi
if [ -z "${REDIS_URL:-}" ] && ! { command -v redis-server && command -v redis-cli; } >/dev/null; then
  missing+=(redis-server)
fi
if [ "${1:-run}" = test ]; then
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    [ -x "$CHROMIUM_PATH" ] || die "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable."
  elif ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    missing+=(chromium)  # the browser tests drive Debian's chromium; Playwright downloads none
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    die "Missing packages: ${missing[*]}. Install them with 'sudo apt-get install ${missing[*]}'," \
      "or run 'docker compose up postgres redis' and set DATABASE_URL and REDIS_URL."
  fi
  say "Installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python 3.11 or newer is needed; $python is $("$python" --version 2>&1)."
