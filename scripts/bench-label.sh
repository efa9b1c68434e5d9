#!/usr/bin/env bash
# Benchmarks label + enrich: records/s and peak RSS with every list of
# configs/lists/shared-data.toml loaded (maltrail's ~1.85 M trails, IPsum, Umbrella, ...), the
# MaxMind test databases and the ipverse prefix table.
#
#   scripts/bench-label.sh [RECORDS]        RECORDS default 2000000
#   SHARED=../shared/data CORES=2 scripts/bench-label.sh 10000000
#
# The records are COF-like and generated in memory by the crate's example; the time reported as
# `label_s` covers reading the raw parts, labelling, enriching, splitting and writing Parquet.
set -euo pipefail

RECORDS=${1:-2000000}
CORES=${CORES:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/pdnsrep-target}
cd "$(dirname "$0")/.."
SHARED=${SHARED:-$(pwd)/../shared/data}

cargo build --release -p pdnsrep-label --example bench_label
OUT=$(mktemp /tmp/label-bench.XXXXXX)
taskset -c "0-$((CORES - 1))" /usr/bin/time -v \
    "$CARGO_TARGET_DIR/release/examples/bench_label" "$RECORDS" configs/lists/shared-data.toml \
    "$SHARED" > "$OUT.json" 2> "$OUT.time.txt"

python3 - "$OUT.json" "$OUT.time.txt" <<'PY'
import json, re, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
t = open(sys.argv[2]).read()
rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
wall = re.search(r"Elapsed \(wall clock\) time.*: (.+)", t).group(1).strip()
print(f"records            {s['records']:,}")
print(f"list entries       {s['list_entries']:,} (loaded in {s['load_lists_s']:.1f} s)")
print(f"generate           {s['generate_s']:.1f} s (in-memory raw dataset, not timed below)")
print(f"label + enrich     {s['label_s']:.1f} s = {s['records_per_s']:,.0f} records/s")
print(f"labels             {s['labels']}  conflicts {s['conflicts']}")
print(f"country hit rate   {s['country_hit_rate']:.3f}")
print(f"peak RSS           {rss_kb / 1024:.0f} MiB (whole process, wall {wall})")
PY
