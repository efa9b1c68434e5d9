#!/usr/bin/env bash
# Benchmarks `pdnsrep synth`: records/s on CORES cores, bytes per record, peak RSS, and a
# projection to the paper's 378 M records.
#
#   scripts/bench-synth.sh [RECORDS] [FORMAT]      RECORDS default 2000000, FORMAT parquet|cof
#   CORES=2 OUT=/tmp/synth-bench SYNTH_BIN=example scripts/bench-synth.sh 5000000
#
# SYNTH_BIN=example benchmarks the crate's example instead of the `pdnsrep` binary (same code
# path, no CLI), for when the binary does not build.
set -euo pipefail

RECORDS=${1:-2000000}
FORMAT=${2:-parquet}
CORES=${CORES:-2}
OUT=${OUT:-$(mktemp -d /tmp/synth-bench.XXXXXX)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/pdnsrep-target}
cd "$(dirname "$0")/.."

if [[ "${SYNTH_BIN:-pdnsrep}" == example ]]; then
    cargo build --release -p pdnsrep-synth --example synth
    CMD=("$CARGO_TARGET_DIR/release/examples/synth" "$OUT" "$RECORDS" 1 "$FORMAT")
else
    cargo build --release --bin pdnsrep
    CMD=("$CARGO_TARGET_DIR/release/pdnsrep" -q synth --out "$OUT" --name bench
         --records "$RECORDS" --seed 1 --format "$FORMAT" --json)
fi

rm -rf "$OUT" && mkdir -p "$OUT"
cpus="0-$((CORES - 1))"
RAYON_NUM_THREADS=$CORES taskset -c "$cpus" /usr/bin/time -v "${CMD[@]}" \
    > "$OUT.summary.json" 2> "$OUT.time.txt"

python3 - "$OUT.summary.json" "$OUT.time.txt" "$OUT" <<'PY'
import json, os, re, sys
s = json.load(open(sys.argv[1]))
t = open(sys.argv[2]).read()
rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
wall = re.search(r"Elapsed \(wall clock\) time.*: (.+)", t).group(1).strip()
user = float(re.search(r"User time \(seconds\): ([\d.]+)", t).group(1))
system = float(re.search(r"System time \(seconds\): ([\d.]+)", t).group(1))
raw_bytes = s["bytes"]
total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(sys.argv[3]) for f in fs)
n = s["records"]
rate = n / s["seconds"]
full = 378_000_000
print(f"records            {n}")
print(f"generate seconds   {s['seconds']:.1f} (wall {wall}, cpu {user + system:.1f} s)")
print(f"records/s          {rate:,.0f}  ({(user + system) / n * 1e6:.2f} us CPU per record)")
print(f"raw bytes/record   {raw_bytes / n:.1f}   (all outputs incl. truth and lists: {total / n:.1f})")
print(f"peak RSS           {rss_kb / 1024:.0f} MiB")
print(f"projection 378 M   {full / rate / 3600:.2f} h, raw {raw_bytes / n * full / 1e9:.1f} GB, "
      f"all outputs {total / n * full / 1e9:.1f} GB")
PY
