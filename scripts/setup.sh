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

# Prometheus, promtool and Alertmanager (Debian packages `prometheus`, `prometheus-alertmanager`): the generated SLO
# rules are checked with promtool in packages/cli's tests, and the runtime's tests scrape it with a real Prometheus
# and deliver alerts to a real Alertmanager (crates/gateway/tests/{prometheus_scrape,alert_delivery}.rs). Installed
# only when missing and apt-get can run (root or passwordless sudo); otherwise those tests say loudly that they
# were skipped (and fail under CI).
missing=()
command -v promtool >/dev/null 2>&1 && [ -x /usr/bin/prometheus ] || missing+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then as_root=(env); elif sudo -n true 2>/dev/null; then as_root=(sudo -n env); else as_root=(); fi
  if [ ${#as_root[@]} -gt 0 ]; then
    say "installing ${missing[*]} (Debian)"
    { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null; } || say "could not install ${missing[*]}: their tests will be skipped"
  else
    say "${missing[*]} missing and apt-get needs root: their tests will be skipped"
  fi
fi

# A Python venv for test servers (PyPI `aiosmtpd`: the SMTP server the alert e-mail test sends to). Needs python3
# with venv (Debian `python3-venv`, installed like the above when missing).
pyenv=target/cfp-pyenv
if [ ! -x "$pyenv/bin/python" ] || ! "$pyenv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null || true
  fi
  say "creating $pyenv (aiosmtpd)"
  { python3 -m venv "$pyenv" && "$pyenv/bin/pip" install -q --disable-pip-version-check 'aiosmtpd>=1.4,<2'; } \
    || say "could not create $pyenv: the alert e-mail test will be skipped"
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
