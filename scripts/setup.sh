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

# promtool (Debian package `prometheus`) checks the generated SLO rules in packages/cli's tests; installed only when
# missing and apt-get can run (root or passwordless sudo). Without it those tests are skipped with a message.
if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then as_root=(env); elif sudo -n true 2>/dev/null; then as_root=(sudo -n env); else as_root=(); fi
  if [ ${#as_root[@]} -gt 0 ]; then
    say "installing promtool (Debian package prometheus)"
    { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends prometheus >/dev/null; } || say "could not install prometheus: the promtool tests will be skipped"
  else
    say "promtool is missing and apt-get needs root: the promtool tests will be skipped"
  fi
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
