#!/usr/bin/env bash
# The TypeScript client's check: generate the types from docs/openapi.json with
# openapi-typescript (which must print no warning), then type-check src/flow.ts, a
# player's whole flow, with tsc. Needs Node.js and npm; nothing else does.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
    echo "clients-check: needs Node.js and npm (apt-get install nodejs npm)" >&2
    exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
output=$(npx --no-install openapi-typescript ../../docs/openapi.json --output src/schema.d.ts 2>&1)
echo "$output"
if grep -qiE 'warn|⚠' <<<"$output"; then
    echo "clients-check: openapi-typescript printed a warning" >&2
    exit 1
fi
npx --no-install tsc -p .
echo "clients-check: the TypeScript flow type-checks against docs/openapi.json"
