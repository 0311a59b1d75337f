#!/usr/bin/env bash
# Retrain, evaluate and re-record zoo entries: bash scripts/build_zoo.sh NAME [NAME ...]  (see scripts/build_zoo.py)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
exec "$venv/bin/python" scripts/build_zoo.py "$@"
