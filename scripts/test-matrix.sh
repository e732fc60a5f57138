#!/usr/bin/env bash
# Runs the whole suite on each supported Django line, each in its own virtualenv.
# Django 6.x needs Python >= 3.12; that leg runs on the newest such interpreter here.
set -euo pipefail
cd "$(dirname "$0")/.."

make test-suite VENV=.venv-django4.2 DJANGO=4.2
make test-suite VENV=.venv-django5.2 DJANGO=5.2
bash scripts/test-django6.sh
