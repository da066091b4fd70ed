#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs every test suite —
# Rust (unit + integration against PostgreSQL), TypeScript (sdk, worker, cli) and the end-to-end suite.
# Ends with one line `tests: N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1 FORCE_COLOR=0 CARGO_TERM_COLOR=never
export CFP_TEST_DATABASE_URL="${CFP_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

say() { printf '\n==> %s\n' "$*"; }
logs=$(mktemp -d)
passed=0
failed=0
status=0

# PostgreSQL is part of this kind of machine; start it if it stopped.
if command -v pg_isready >/dev/null && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

say "setup"
./scripts/setup.sh debug || { echo "setup failed"; exit 1; }

say "lint: cargo fmt, clippy, biome"
if ! cargo fmt --all --check; then echo "cargo fmt found unformatted code"; status=1; fi
if ! cargo clippy --workspace --all-targets --quiet -- -D warnings; then status=1; fi
# TypeScript and JavaScript: Biome's formatter and linter (biome.jsonc); `npx biome format --write .` fixes format.
if ! node_modules/.bin/biome ci --reporter=summary; then echo "biome found unformatted or failing TypeScript"; status=1; fi

count_rust() {
  local line
  line=$(grep -E '^\s*Summary .* tests? run:' "$1" | tail -n1)
  local p f
  p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
}

count_vitest() {
  local line p f
  while IFS= read -r line; do
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  done < <(grep -E '^\s*Tests\s' "$1")
}

say "Rust tests (cargo nextest)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$logs/rust.log"
  rc=${PIPESTATUS[0]}
  count_rust "$logs/rust.log"
else
  cargo test --workspace --no-fail-fast 2>&1 | tee "$logs/rust.log"
  rc=${PIPESTATUS[0]}
  p=$(grep -oE 'test result: .* ([0-9]+) passed' "$logs/rust.log" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' | paste -sd+ | bc 2>/dev/null || echo 0)
  passed=$((passed + ${p:-0}))
fi
[ "$rc" -eq 0 ] || { status=1; [ "$failed" -gt 0 ] || failed=$((failed + 1)); }

# Every npm workspace with a `test` script (and `test:e2e`, browser tests, where present).
suites=$(node -e '
  const fs = require("fs"), path = require("path");
  const root = require("./package.json");
  const dirs = root.workspaces.flatMap((w) => w.endsWith("/*")
    ? fs.readdirSync(w.slice(0, -2)).map((d) => path.join(w.slice(0, -2), d)) : [w]);
  for (const d of dirs) {
    const f = path.join(d, "package.json");
    if (!fs.existsSync(f)) continue;
    const s = JSON.parse(fs.readFileSync(f, "utf8")).scripts || {};
    for (const name of ["test", "test:e2e"]) if (s[name]) console.log(d + " " + name);
  }')
while read -r ws script; do
  [ -n "$ws" ] || continue
  say "TypeScript tests: $ws ($script)"
  log="$logs/$(echo "$ws-$script" | tr '/:' '__').log"
  npm run --silent "$script" -w "$ws" </dev/null 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  before=$failed
  count_vitest "$log"
  if [ "$rc" -ne 0 ]; then
    status=1
    [ "$failed" -gt "$before" ] || failed=$((failed + 1))
  fi
done <<<"$suites"

echo
echo "tests: $passed passed, $failed failed"
exit $status
