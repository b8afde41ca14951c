#!/usr/bin/env bash
# Create .venv (installing python3-venv when it is missing) and install a requirements file.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRIPT_NAME=venv
. "$ROOT/scripts/lib.sh"
requirements=$1
python=${PYTHON:-python3}

command -v "$python" >/dev/null || apt_install python3
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python 3.11 or newer is needed; $python is $("$python" --version 2>&1)."
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  if ! "$python" -m venv "$ROOT/.venv" >/dev/null 2>&1; then
    rm -rf "$ROOT/.venv"
    apt_install python3-venv
    "$python" -m venv "$ROOT/.venv"
  fi
  "$ROOT/.venv/bin/python" -m pip install -q --upgrade pip
fi
say "Installing $requirements into .venv"
"$ROOT/.venv/bin/python" -m pip install -q -r "$ROOT/$requirements"
