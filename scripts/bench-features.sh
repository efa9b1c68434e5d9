#!/usr/bin/env bash
# Benchmarks `pdnsrep features` against DuckDB running the same aggregation query, side by side
# on the same labelled records, pinned to the same cores.
#
#   scripts/bench-features.sh [RECORDS] [MEMORY]     defaults: 10000000 records, 4GiB
#   CORES=2 KEEP=/tmp/fbench PROFILE=dev scripts/bench-features.sh 10000000 4GiB
#   (KEEP reuses the labelled records of an earlier run there; REUSE=1 also its pdnsrep timings)
#
# Steps: synthesize RECORDS raw records and label them with the world's own lists (not timed),
# then time (1) pdnsrep features with MEMORY for the engine (spilling past it), (2) pdnsrep
# features without a limit, (3) DuckDB (PyPI, in .venv-anchors) on the same query with the same
# memory limit. Peak RSS of each comes from /usr/bin/time.
set -euo pipefail

RECORDS=${1:-10000000}
MEMORY=${2:-4GiB}
CORES=${CORES:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/pdnsrep-target}
cd "$(dirname "$0")/.."

# PROFILE=dev times the test build instead (dependencies at opt-level 2, ours at 1) and spares a
# release build of DataFusion and Burn; the note of a run must say which.
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
    cargo build --release --locked --bin pdnsrep
    bin="$CARGO_TARGET_DIR/release/pdnsrep"
else
    cargo build --locked --bin pdnsrep
    bin="$CARGO_TARGET_DIR/debug/pdnsrep"
fi
if [ ! -x .venv-anchors/bin/python ]; then
    python3 -m venv .venv-anchors
    .venv-anchors/bin/pip install --quiet --disable-pip-version-check 'duckdb==2.0.1'
fi

work=${KEEP:-$(mktemp -d /tmp/features-bench.XXXXXX)}
mkdir -p "$work"
root="$work/root"
pin=(taskset -c "0-$((CORES - 1))")
if [ ! -f "$root/labelled/bench/_manifest.json" ]; then
    "$bin" -q synth --out "$root" --name bench --records "$RECORDS" --seed 7
    "$bin" -q label --in "$root" --dataset raw/bench --out-dataset labelled/bench \
        --lists "$root/lists/bench/lists.toml" --prefixes "$root/lists/bench/prefixes.csv" \
        --split grouped-domain
fi

run() {
    local name=$1
    shift
    "${pin[@]}" /usr/bin/time -v "$@" > "$work/$name.out" 2> "$work/$name.time"
}

# REUSE=1 keeps the pdnsrep timings already in KEEP and runs only the anchor.
if [ "${REUSE:-0}" != 1 ] || [ ! -f "$work/unlimited.out" ]; then
run limited "$bin" -q features --in "$root" --dataset labelled/bench --out-dataset features/limited \
    --memory "$MEMORY" --threads "$CORES" --temp-dir "$work" --json
run unlimited "$bin" -q features --in "$root" --dataset labelled/bench --out-dataset features/unlimited \
    --threads "$CORES" --temp-dir "$work" --json
fi
"$bin" features --print-sql > "$work/query.sql"
duck_memory=$(echo "$MEMORY" | sed 's/iB$/B/')
run duckdb .venv-anchors/bin/python scripts/anchors/duckdb_features.py "$root" labelled/bench \
    "$work/query.sql" "$work/duckdb.parquet" --threads "$CORES" --memory "$duck_memory" \
    --temp-dir "$work/duckdb-tmp"

python3 - "$work" "$MEMORY" <<'PY'
import json, re, sys
work, memory = sys.argv[1], sys.argv[2]
def rss(name):
    t = open(f"{work}/{name}.time").read()
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024 / 1024
lim = json.load(open(f"{work}/limited.out"))
unl = json.load(open(f"{work}/unlimited.out"))
duck = json.loads(open(f"{work}/duckdb.out").read().strip().splitlines()[-1])
n = lim["rows"]
print(f"records                      {n:,}")
for name, s in (("pdnsrep (memory " + memory + ")", lim), ("pdnsrep (unlimited)", unl)):
    print(f"{name:<28} total {s['elapsed_s']:6.1f} s = {n / s['elapsed_s']:>9,.0f} rec/s | "
          f"aggregate {s['aggregate_s']:.1f} s, fit {s['fit_s']:.1f} s, encode+write {s['encode_s']:.1f} s | "
          f"peak RSS {rss('limited' if s is lim else 'unlimited'):.2f} GiB, "
          f"{s['spill_count']} spills, {s['spilled_bytes'] / 2**30:.2f} GiB spilled")
print(f"{duck['engine'] + ' (' + memory + ')':<28} total {duck['seconds']:6.1f} s = {duck['records_per_s']:>9,.0f} rec/s | "
      f"aggregate only | peak RSS {rss('duckdb'):.2f} GiB")
print(f"ratio, aggregation step       DuckDB / pdnsrep = {duck['seconds'] / lim['aggregate_s']:.2f} "
      f"(>1: pdnsrep faster)")
print(f"ratio, whole features run     DuckDB aggregation / pdnsrep total = {duck['seconds'] / lim['elapsed_s']:.2f}")
scale = 378e6 / n
print(f"projection to 378 M records   ~{lim['elapsed_s'] * scale / 3600:.2f} h on {memory} "
      f"(linear in records; spills grow with data, see the note)")
PY
echo "work folder: $work"
