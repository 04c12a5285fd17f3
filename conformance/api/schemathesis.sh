#!/usr/bin/env bash
# Fuzzes the JSON API from its own description: schemathesis (from PyPI) reads /openapi.json of a
# live `xingtong serve` on a fresh data directory and sends every operation generated requests,
# authenticated with the admin key. It fails on any 5xx, any response that breaks its documented
# schema or status codes, and any operation it cannot test (an incomplete document).
#
# Usage: conformance/api/schemathesis.sh [PATH_TO_XINGTONG] [EXAMPLES_PER_OPERATION]
set -euo pipefail
XINGTONG="${1:-${CARGO_TARGET_DIR:-target}/debug/xingtong}"
EXAMPLES="${2:-10}"
VENV="${XINGTONG_SCHEMATHESIS_VENV:-$HOME/.cache/xingtong/schemathesis}"
ST="$VENV/bin/schemathesis"
if [ ! -x "$ST" ]; then
  if python3 -m venv "$VENV" 2>/dev/null; then
    "$VENV/bin/pip" install -q 'schemathesis>=4.32,<5'
  else
    # No venv module (Debian's python3 without python3-venv): install for this user instead.
    python3 -m pip install -q --user 'schemathesis>=4.32,<5'
    ST="$(python3 -c 'import site; print(site.USER_BASE)')/bin/schemathesis"
  fi
fi
WORK="$(mktemp -d)"
"$XINGTONG" serve --data-dir "$WORK/data" --http 127.0.0.1:0 --iso8583 127.0.0.1:0 >"$WORK/out" 2>"$WORK/log" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 300); do grep -q "HTTP API on" "$WORK/out" && break; sleep 0.1; done
API="$(grep -o 'http://[0-9.:]*' "$WORK/out" | head -n 1)"
KEY="$(grep -o 'xtk_[A-Za-z0-9_]*' "$WORK/out" | head -n 1)"
[ -n "$API" ] && [ -n "$KEY" ] || { echo "the server did not start"; cat "$WORK/log"; exit 1; }
cd "$WORK"
"$ST" run "$API/openapi.json" -H "Authorization: Bearer $KEY" \
  --max-examples "$EXAMPLES" --seed 1 \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance \
  --no-color
