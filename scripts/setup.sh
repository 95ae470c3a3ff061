#!/usr/bin/env bash
# Idempotent setup for a fresh Debian machine (run as root): system packages and the virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(mosquitto mosquitto-clients dnsmasq-base avahi-daemon avahi-utils libpcap0.8 iproute2 chromium fonts-wqy-microhei postgresql haproxy swift-proxy swift-object swift-container swift-account curl)
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
# Request Tracker 5 (helpdesk connector tests): SQLite back end, no web server or cron jobs of its own.
# The tests start rt-server themselves on a free loopback port with their own config and database
# (tests/connectors/rt_server.py); the preseeds only keep the install non-interactive.
RT_PACKAGES=(request-tracker5 rt5-db-sqlite rt5-standalone w3m)
rt_missing=()
for pkg in "${RT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || rt_missing+=("$pkg")
done
if ((${#rt_missing[@]})); then
    echo "setup: installing ${rt_missing[*]} (Request Tracker, slow)" >&2
    debconf-set-selections <<'SEED'
rt5-db-sqlite rt5-db-sqlite/available boolean true
request-tracker5 request-tracker5/dbconfig-install boolean true
request-tracker5 request-tracker5/database-type select sqlite3
request-tracker5 request-tracker5/db/dbname string rtdb
request-tracker5 request-tracker5/db/basepath string /var/lib/dbconfig-common/sqlite3/request-tracker5
request-tracker5 request-tracker5/initial-root-password password rt-test-root-pw
request-tracker5 request-tracker5/rtname string rt.test
request-tracker5 request-tracker5/organization string rt.test
request-tracker5 request-tracker5/webbaseurl string http://127.0.0.1
request-tracker5 request-tracker5/webpath string /rt
request-tracker5 request-tracker5/correspondaddress string rt@localhost
request-tracker5 request-tracker5/commentaddress string rt-comment@localhost
request-tracker5 request-tracker5/install-cronjobs boolean false
request-tracker5 request-tracker5/handle-siteconfig-permissions boolean true
exim4-config exim4/dc_eximconfig_configtype select local delivery only; not on a network
SEED
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${rt_missing[@]}" >/dev/null
fi
# The distribution's services are not ours: the lab and the tests start their own instances.
for svc in mosquitto avahi-daemon postgresql haproxy; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
done

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.homediag-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[collector,test]'
    touch "$stamp"
fi
