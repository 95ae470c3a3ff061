#!/usr/bin/env bash
# Idempotent setup for a fresh Debian machine (run as root): system packages and the virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(mosquitto mosquitto-clients dnsmasq-base avahi-daemon avahi-utils libpcap0.8 iproute2 chromium fonts-wqy-microhei swift-proxy swift-object swift-container swift-account curl)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The distribution's services are not ours: the lab and the tests start their own instances.
for svc in mosquitto avahi-daemon; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
done

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.homediag-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[test]'
    touch "$stamp"
fi
