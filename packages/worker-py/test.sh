#!/usr/bin/env sh
# Runs the Python worker's pytest suite in a virtual environment kept under this package (.venv), created on
# the first run (python3 -m venv; pytest, websockets and pydantic from PyPI) and reused after. Prints a
# vitest-style `Tests  N passed` line for scripts/test.sh's counter.
set -eu
cd "$(dirname "$0")"
PY="${CFP_PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "worker-py: $PY not found; install Python 3.10+ (apt-get install python3 python3-venv) or set CFP_PYTHON" >&2
  exit 1
fi
want="pytest websockets>=13 pydantic>=2 opentelemetry-api>=1.20"
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.cfp-test-deps 2>/dev/null)" != "$want" ]; then
  echo "worker-py: creating .venv (pytest, websockets, pydantic, opentelemetry-api)"
  "$PY" -m venv --clear .venv
  # shellcheck disable=SC2086
  .venv/bin/python -m pip install -q --disable-pip-version-check $want
  printf '%s' "$want" > .venv/.cfp-test-deps
fi
out=$(mktemp)
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider tests "$@" 2>&1 | tee "$out"
rc=$?
set -e
summary=$(grep -E '[0-9]+ (passed|failed)' "$out" | tail -n1)
p=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
f=$(echo "$summary" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
rm -f "$out"
echo "      Tests  ${p:-0} passed | ${f:-0} failed"
exit $rc
