# Sourced by the scripts that run pdnsrep: builds the binary and sets `bin` to it.
#
# By default the binary comes from the build the tests use (dependencies optimized, ours at
# opt-level 1): one build serves both README commands, half an hour less on a fresh 2-core
# machine than a separate release build. PROFILE=release builds and uses a release binary.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pdnsrep-target}"
if [ "${PROFILE:-dev}" = release ]; then
    cargo build --release --locked --bin pdnsrep
    bin="$CARGO_TARGET_DIR/release/pdnsrep"
else
    cargo build --locked --bin pdnsrep
    bin="$CARGO_TARGET_DIR/debug/pdnsrep"
fi
