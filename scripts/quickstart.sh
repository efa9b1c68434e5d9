#!/usr/bin/env bash
# The main job on the embedded default (local folder, CPU): generate a small synthetic passive
# DNS world, then label, enrich and split it with the lists the generator wrote for it.
#
# usage: scripts/quickstart.sh [ROOT] [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-pdnsrep-data}"
records="${2:-200000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pdnsrep-target}"
cargo build --release --locked --bin pdnsrep
bin="$CARGO_TARGET_DIR/release/pdnsrep"
lists="$root/lists/quickstart"

"$bin" synth --out "$root" --name quickstart --records "$records" --seed 1 --stats
"$bin" label --in "$root" --dataset raw/quickstart --out-dataset labelled/quickstart \
    --lists "$lists/lists.toml" --prefixes "$lists/prefixes.csv" --split grouped-domain
echo
echo "datasets under $root: raw/quickstart, truth/quickstart, labelled/quickstart"
