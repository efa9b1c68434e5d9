#!/usr/bin/env bash
# Regenerates the paper's table (configs/sweeps/paper.toml) on a synthetic world: one world,
# labelled twice (a grouped split by registered domain and a random split), featurized twice,
# then the sweep over both. Rerunning resumes the sweep; finished trials are kept.
#
# usage: scripts/sweep-paper.sh [ROOT] [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-pdnsrep-data}"
records="${2:-200000}"
source scripts/build-bin.sh
lists="$root/lists/paper"

if [ ! -e "$root/raw/paper/_manifest.json" ]; then
    "$bin" synth --out "$root" --name paper --records "$records" --seed 1
else
    echo "using the world already in $root/raw/paper (RECORDS applies to a new ROOT only)" >&2
fi
for split in grouped random; do
    mode="$split"
    [ "$split" = grouped ] && mode=grouped-domain
    if [ ! -e "$root/features/paper-$split/_manifest.json" ]; then
        "$bin" label --in "$root" --dataset raw/paper --out-dataset "labelled/paper-$split" \
            --lists "$lists/lists.toml" --prefixes "$lists/prefixes.csv" --split "$mode"
        "$bin" features --in "$root" --dataset "labelled/paper-$split" \
            --out-dataset "features/paper-$split"
    fi
done
"$bin" sweep configs/sweeps/paper.toml --features "$root"
