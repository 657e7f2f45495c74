#!/bin/sh
# Installs the Debian packages the test suite uses beyond npm, only those that are missing:
#   python3-grpcio, python3-grpc-tools  the independent gRPC client (test/grpc-python.test.ts)
#   yamllint                            manifest lint (test/deploy-manifests.test.ts)
#   prometheus                          promtool and the scale-out test's Prometheus
#   haproxy                             the scale-out test's load balancer
#   chromium                            the /dashboard browser test
#   kubernetes-client                   kubectl (`kubectl kustomize`), only when no kubectl is on PATH
# Idempotent: a machine that has them all is left alone, without apt-get update. `npm test`
# runs it first (package.json "pretest"); it needs root (apt-get) only when something is missing.
set -eu

kPackages="python3-grpcio python3-grpc-tools yamllint prometheus haproxy chromium"

missing=""
for p in $kPackages; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

# kubectl may come from elsewhere (a cloud SDK's repository): Debian's only when none is found.
if ! command -v kubectl >/dev/null 2>&1; then missing="$missing kubernetes-client"; fi

if [ -z "$missing" ]; then
  echo "install-test-deps: all present ($kPackages)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: missing:$missing; run this script as root (it uses apt-get), or install them" >&2
  exit 1
fi
echo "install-test-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Another apt-get may hold the lock for a while (shared machines): wait for it.
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
