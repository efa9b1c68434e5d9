#!/usr/bin/env bash
# Runs every check CI runs, cheapest first: formatting, lints, then the whole test suite.
# Installs what the tests need on a fresh machine (moto's S3 server, into .venv); the tests
# start and stop the server themselves on a free loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pdnsrep-target}"

if [ ! -x .venv/bin/moto_server ]; then
    echo "installing moto's S3 server into .venv (one time)"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]==5.1.*'
fi
export PDNSREP_MOTO_SERVER="$PWD/.venv/bin/moto_server"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (the last binary cargo runs may be a doc-test
# harness with nothing in it).
# A binary or doc-test that fails to build prints no `test result:` line: count it as a
# failure so the closing line never says 0 failed for a failed run.
awk -v status="$status" '/^test result:/ { p += $4; f += $6; i += $8 }
    END { if (status != 0 && f == 0) f = 1
          printf "total: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
exit "$status"
