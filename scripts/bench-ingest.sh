#!/usr/bin/env bash
# Ingest throughput on N COF lines (default 10 M): wall time, lines/s and peak memory, once
# with the default memory budget and once with a small one that forces spilling.
#
# usage: scripts/bench-ingest.sh [N] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000000}"
work="${2:-${TMPDIR:-/tmp}/pdnsrep-bench-ingest}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pdnsrep-target}"
cargo build --release --locked --bin pdnsrep
bin="$CARGO_TARGET_DIR/release/pdnsrep"
mkdir -p "$work"
input="$work/cof-$n.jsonl"
if [ ! -s "$input" ]; then
    echo "generating $n COF lines into $input"
    python3 scripts/gen-cof.py "$n" > "$input"
fi
echo "input: $(du -h "$input" | cut -f1), $n lines, $(nproc) cores"
for budget in 2048 256; do
    rm -rf "$work/store"
    /usr/bin/time -f "%e s wall, %M KiB peak RSS, %P CPU" -o "$work/time.txt" \
        "$bin" --quiet ingest --out "$work/store" --dataset raw/bench --memory-mib "$budget" \
        --spill-dir "$work" --json "$input" > "$work/summary.json"
    python3 - "$work" "$n" "$budget" <<'PY'
import json, sys
work, n, budget = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = json.load(open(f"{work}/summary.json"))
t = open(f"{work}/time.txt").read().strip()
wall = float(t.split()[0])
print(f"budget {budget} MiB: {t}; {n / wall:,.0f} lines/s; "
      f"{s['records_written']:,} records written, {s['spills']} spills, "
      f"{s['bytes_written'] / max(1, s['records_written']):.1f} bytes/record")
PY
done
