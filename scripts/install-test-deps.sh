#!/bin/sh
# Installs the Debian packages the deployment tests use (test/deploy-*.test.ts), only those
# that are missing: yamllint (manifest lint), prometheus (promtool and the server of the
# scale-out test), haproxy (the scale-out test's load balancer) and chromium (the /dashboard
# browser test), and kubectl (`kubectl kustomize`; Debian's kubernetes-client when the machine
# has none: this machine's kubectl comes with its Google Cloud SDK repository). Idempotent: a
# machine that has them all is left alone, without apt-get update.
# Needs root (apt-get); the CI set-up runs it before `npm install` and `npm test`.
set -eu

# command -> Debian package
wanted="yamllint:yamllint promtool:prometheus prometheus:prometheus haproxy:haproxy chromium:chromium kubectl:kubernetes-client"

missing=""
for pair in $wanted; do
  cmd=${pair%%:*}
  pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && [ -z "$(echo " $missing " | grep " $pkg ")" ]; then
    missing="$missing $pkg"
  fi
done

if [ -z "$missing" ]; then
  echo "install-test-deps: all present (yamllint, promtool, prometheus, haproxy, chromium, kubectl)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: missing:$missing; run this script as root (it uses apt-get)" >&2
  exit 1
fi
echo "install-test-deps: installing$missing"
# Another apt-get may hold the lock for a while (shared machines): wait for it.
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q
# shellcheck disable=SC2086 # the list is meant to split into package names
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing
# The Debian packages start their services; the tests start their own instances on free
# ports, so the packaged ones are stopped where a service manager runs them.
for svc in prometheus haproxy; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
echo "install-test-deps: done"
