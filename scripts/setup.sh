#!/usr/bin/env bash
# Installs what CFP needs on a fresh machine of the project's kind and builds it. Idempotent and quick when
# nothing changed. Used by scripts/dev.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${1:-debug}"   # debug | release

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# Node dependencies (npm workspaces). `npm ci` when the lock changed since the last install.
stamp=node_modules/.cfp-lock-stamp
if [ ! -d node_modules ] || [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

say "building TypeScript packages"
npm run build --silent
# npm links a workspace's bin only when its target exists, and dist/ appears only now: link them.
npm rebuild --ignore-scripts --silent @cfp/cli @cfp/worker @cfp/control-plane
[ -x node_modules/.bin/cfp ] || { echo "setup: node_modules/.bin/cfp is missing after the build" >&2; exit 1; }

say "building cfp-runtime ($profile)"
if [ "$profile" = release ]; then
  cargo build --release -p cfp-runtime --quiet
else
  cargo build -p cfp-runtime --quiet
fi
