#!/bin/sh
# Installs the system packages the test suite needs beyond npm: Debian's gRPC for Python
# (python3-grpcio) and its code generator (python3-grpc-tools), which the gRPC tests use as
# an independent client (test/grpc-python.test.ts). Idempotent: does nothing when both are
# installed; otherwise needs root (apt-get update, then apt-get install).
set -eu
kPackages="python3-grpcio python3-grpc-tools"
missing=""
for p in $kPackages; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  echo "install-test-deps: $kPackages already installed"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "install-test-deps: missing:$missing; run this script as root (it uses apt-get)" >&2
  exit 1
fi
echo "install-test-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing
