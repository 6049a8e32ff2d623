#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module for a short time each (default 20s; pass a
# duration as $1). Go runs one fuzz target per invocation, so this lists them and loops.
set -euo pipefail
time_per_target=${1:-20s}
cd "$(dirname "$0")/.."
fail=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "== fuzz $pkg $target ($time_per_target)"
    if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$time_per_target"; then
      fail=1
    fi
  done
done
exit $fail
