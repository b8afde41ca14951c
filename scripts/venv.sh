#!/usr/bin/env bash
# Create .venv and install a requirements file into it (scripts/packages.sh provided Python).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRIPT_NAME=venv
. "$ROOT/scripts/lib.sh"
requirements=$1

if [ ! -x "$ROOT/.venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$ROOT/.venv"
  "$ROOT/.venv/bin/python" -m pip install -q --upgrade pip
fi
say "Installing $requirements into .venv"
"$ROOT/.venv/bin/python" -m pip install -q -r "$ROOT/$requirements"
