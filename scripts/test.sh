#!/usr/bin/env bash
# The test command: installs what the tests need, then runs the whole suite.
#   - Node 22, the official MCP TypeScript SDK and conformance suites (npm, pinned in scripts/package-lock.json)
#   - the official MCP Python SDK (PyPI, pinned in scripts/requirements.txt) in scripts/.venv
#   - PostgreSQL from Debian's packages, started on a private port for the PostgreSQL tests
#   - Chromium and chromedriver from Debian's packages, for the console's browser tests
# Set SPECGATE_TEST_POSTGRES_URL to use an existing PostgreSQL instead.
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci --prefix scripts --no-audit --no-fund --loglevel=error
[ -x scripts/.venv/bin/python ] || python3 -m venv scripts/.venv
scripts/.venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt

# Headless Chromium and its WebDriver for the console's browser tests.
if ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if [ -z "${SPECGATE_TEST_POSTGRES_URL:-}" ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  pgdata="$(mktemp -d)"
  pgport=54329
  as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
  [ "$(id -u)" = 0 ] && chown postgres "$pgdata"
  as_postgres "'$pgbin/initdb' -D '$pgdata' -A trust -U postgres" >/dev/null
  as_postgres "'$pgbin/pg_ctl' -D '$pgdata' -l '$pgdata/log' -w -o '-p $pgport -k /tmp -c listen_addresses=127.0.0.1' start" >/dev/null
  trap "as_postgres \"'$pgbin/pg_ctl' -D '$pgdata' -m fast stop\" >/dev/null 2>&1 || true; rm -rf '$pgdata'" EXIT
  export SPECGATE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pgport/postgres"
fi

# The tests that need one of the above are #[ignore]d in a plain `cargo test --workspace` (the
# fast loop); here they run, and one whose component is missing fails.
export SPECGATE_REQUIRE_EXTERNAL=1
cargo test --workspace --locked -- --include-ignored
