#!/usr/bin/env bash
# The README's first command: set everything up, then run `cfp dev` on the example project
# (embedded PostgreSQL unless DATABASE_URL is set). Extra arguments go to `cfp dev` (e.g. --port 4000).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh release
export CFP_RUNTIME_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/cfp-runtime"
cd examples/hello
exec ../../node_modules/.bin/cfp dev "$@"
