#!/usr/bin/env bash
# Creates a separate virtualenv with the established django-prometheus package and
# the same Django and prometheus-client versions as .venv, so a benchmark can
# measure both in one run. Usage: benchmarks/make-upstream-venv.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-.venv-upstream}
ours=.venv/bin/python
[ -x "$ours" ] || { echo "run 'make setup' first" >&2; exit 1; }
django=$($ours -c 'import django; print(django.__version__)')
client=$($ours -c 'from importlib.metadata import version; print(version("prometheus-client"))')
# The interpreter of .venv itself: both sides of a comparison must run on the same Python.
interpreter=$($ours -c 'import sys; print(sys._base_executable)')
if [ -x "$target/bin/python" ] && [ "$("$target/bin/python" -c 'import sys; print(sys._base_executable)')" != "$interpreter" ]; then
  rm -rf "$target"
fi
if [ ! -x "$target/bin/python" ]; then
  "$interpreter" -m venv "$target"
fi
"$target/bin/python" -m pip install --quiet --upgrade pip
"$target/bin/python" -m pip install --quiet "django-prometheus==2.5.0" "Django==$django" \
  "prometheus-client==$client" "psycopg[binary]" "uvicorn"
echo "$target: django-prometheus $("$target/bin/python" -c 'from importlib.metadata import version; print(version("django-prometheus"))'), Django $django, prometheus-client $client"
