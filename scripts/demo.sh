#!/usr/bin/env bash
# Quick start #1: set everything up, then run the demo (collector on loopback, an agent enrolling and
# delivering a signed bundle to a ticket). Re-runnable: each run starts from an empty var/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# lab.demo stops the collector itself on exit, Ctrl-C or SIGTERM.
exec .venv/bin/python -m lab.demo "$@"
