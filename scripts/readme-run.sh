#!/usr/bin/env bash
# Runs the README's first command (the run command) verbatim from this checkout, waits until it
# prints an MCP URL, lists that URL's tools over MCP, follows the demo's vendor consent link to
# a connected account, then stops it with SIGTERM as an operator would and checks that it exits
# cleanly. CI runs this on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."

run_command="$(awk '/^```sh$/ { inside = 1; next } inside { print; exit }' README.md | sed 's/[[:space:]]*#.*$//')"
[ -n "$run_command" ] || { echo "README.md has no first command in a sh block" >&2; exit 1; }
echo "README run command: $run_command"

log="$(mktemp)"
# `bash -c` and `cargo run` both exec, so $pid ends up being specgate itself.
bash -c "exec $run_command" >"$log" 2>&1 &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null || true; }
trap stop EXIT

deadline=$((SECONDS + 1800))  # a cold release build included
url=""
while [ -z "$url" ]; do
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" >&2
    echo "the run command exited before printing an MCP URL" >&2
    exit 1
  fi
  if [ "$SECONDS" -gt "$deadline" ]; then
    cat "$log" >&2
    echo "no MCP URL after 30 minutes" >&2
    exit 1
  fi
  url="$(grep -o 'http://[^ ]*/mcp/mcp_[A-Za-z0-9_-]*' "$log" | head -n 1 || true)"
  sleep 1
done

listed="$(curl -fsS -X POST "$url" \
  -H 'content-type: application/json' \
  -H 'accept: application/json, text/event-stream' \
  -H 'mcp-protocol-version: 2025-11-25' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}')"
tools="$(printf '%s' "$listed" | grep -o '"name":"[a-z0-9_]*"' | wc -l)"
if [ "$tools" -eq 0 ]; then
  echo "tools/list on $url returned no tools: $listed" >&2
  exit 1
fi
echo "tools/list on the first demo URL: $tools tools"

# The demo's vendor OAuth connection, end to end, in one browser (a cookie jar): its start link,
# which binds the connection to that browser and leads to the sandbox's consent page, and
# specgate's callback creating the account.
consent=""
for _ in $(seq 1 30); do
  consent="$(grep -o 'http://[^ ]*/oauth/connect/[^ ]*' "$log" | head -n 1 || true)"
  [ -n "$consent" ] && break
  sleep 1
done
[ -n "$consent" ] || { cat "$log" >&2; echo "the demo printed no consent link" >&2; exit 1; }
jar="$(mktemp)"
allow="$(curl -fsS -L -c "$jar" -b "$jar" "$consent" | grep -o 'id="allow" href="[^"]*"' | sed 's/.*href="//; s/"$//; s/&amp;/\&/g')"
[ -n "$allow" ] || { echo "the sandbox's consent page has no Allow link" >&2; exit 1; }
connected="$(curl -fsS -b "$jar" "$allow")"
rm -f "$jar"
if ! printf '%s' "$connected" | grep -q 'Rose Rocket account connected'; then
  echo "the callback did not connect the account: $connected" >&2
  exit 1
fi
echo "the demo's consent link connected a Rose Rocket account"

trap - EXIT
kill -TERM "$pid"
if wait "$pid"; then
  echo "the run command exited cleanly on SIGTERM"
else
  status=$?
  cat "$log" >&2
  echo "the run command exited with status $status on SIGTERM" >&2
  exit 1
fi
