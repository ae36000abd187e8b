#!/usr/bin/env bash
# Debian packages that integration tests run for real: Chromium (the dashboard test drives it
# through playwright-core; no browser download), Prometheus (the scrape test queries a real
# server), and Patroni, etcd and HAProxy (the PostgreSQL HA cluster of `stack up --ha`, its tests
# and the HA drill). Installed with apt-get when missing and running as root; otherwise the command to run
# is printed and the test run stops before it starts.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v patroni >/dev/null || missing+=(patroni)
command -v etcd >/dev/null || missing+=(etcd-server)
command -v haproxy >/dev/null || missing+=(haproxy)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "test tools missing: ${missing[*]}. Install them: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} with apt-get"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
