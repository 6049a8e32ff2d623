#!/usr/bin/env bash
# setup.sh installs the system packages Nautilus builds and tests with, and only those that are
# missing. It is idempotent: a second run installs nothing and says so. Every make target that
# needs a system package runs it first, so a fresh Debian machine needs nothing else.
set -euo pipefail

# package -> why we need it
declare -A why=(
  [librocksdb-dev]="RocksDB headers and library for github.com/linxGnu/grocksdb (cgo)"
  [build-essential]="C compiler for cgo"
  [pkg-config]="locating C libraries for cgo"
  [mosquitto-clients]="mosquitto_pub/mosquitto_sub for interoperability tests"
  [mosquitto]="a reference broker for comparison and bridge tests"
  [python3-paho-mqtt]="Python paho-mqtt client for interoperability tests"
  [iproute2]="network namespaces for cluster partition tests"
  [openssl]="making a cluster secret as docs/security.md shows (its example is run by a test)"
)
order=(build-essential pkg-config librocksdb-dev mosquitto-clients mosquitto python3-paho-mqtt iproute2 openssl)

missing=()
for p in "${order[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    continue
  fi
  missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all system packages present (${order[*]})"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi

echo "setup: installing ${missing[*]}"
for p in "${missing[@]}"; do echo "  - $p: ${why[$p]}"; done
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The mosquitto package starts a system broker on port 1883, which would collide with `make run`;
# tests start their own mosquitto on a free port, so stop the service where one was started.
if printf '%s\n' "${missing[@]}" | grep -qx mosquitto; then
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
  if command -v service >/dev/null 2>&1; then $SUDO service mosquitto stop >/dev/null 2>&1 || true; fi
  pkill -x mosquitto 2>/dev/null || true
fi
echo "setup: installed ${missing[*]}"
