#!/usr/bin/env bash
# The suite on the newest Django 6.x with the newest Python >= 3.12 on the machine.
# Where that Python's sqlite3 cannot load extensions (pyenv builds often cannot), the
# SpatiaLite tests are deselected by name, and the run says so; the Django 5.2 leg
# covers SpatiaLite. Every other service-backed test stays as required as elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python=$(bash scripts/newest-python.sh); then
  echo "django6: no Python >= 3.12 on this machine" >&2
  exit 1
fi
# Passed through make to the shell, hence the inner quotes.
pytest_args=""
# DJP_PYTEST_MARKERS: a -m expression (CI leaves out the django_independent tests).
if [ -n "${DJP_PYTEST_MARKERS:-}" ]; then
  pytest_args="-m '$DJP_PYTEST_MARKERS'"
fi
if ! "$python" -c 'import sqlite3, sys; sys.exit(not hasattr(sqlite3.Connection, "enable_load_extension"))'; then
  pytest_args="$pytest_args -k 'not spatialite'"
  echo "django6: $python's sqlite3 cannot load extensions: the SpatiaLite tests are deselected (-k 'not spatialite')"
fi
echo "django6: $("$python" --version) from $python"
make test-suite VENV=.venv-django6 DJANGO=6 PYTHON="$python" PYTEST_ARGS="$pytest_args"
