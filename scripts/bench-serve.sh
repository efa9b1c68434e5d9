#!/usr/bin/env bash
# Benchmarks scoring: `pdnsrep score` over a synthetic world (records/s), then `pdnsrep serve`
# under a loopback load from wrk (Debian's package): lookups of random known domains and
# addresses for SECONDS (with explanations), the same for SECONDS/3 without explanations, then
# single-record POST /v1/score for SECONDS/3. Reports requests/s,
# p50/p99 latency and the server's resident memory before and after.
#
# usage: scripts/bench-serve.sh [RECORDS] [SECONDS] [CONNECTIONS]
# PROFILE=release uses a release build; KEEP=DIR keeps the data in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-200000}"
seconds="${2:-60}"
connections="${3:-16}"
source scripts/build-bin.sh
if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package) for the load"
    apt-get install -y -qq wrk >/dev/null
fi
work="${KEEP:-$(mktemp -d)}"
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
root="$work/data"
reg="$work/registry"
lists="$root/lists/bench"

if [ ! -e "$reg/rep/aliases/production.json" ]; then
    "$bin" --quiet synth --out "$root" --name bench --records "$records" --seed 1
    "$bin" --quiet label --in "$root" --dataset raw/bench --out-dataset labelled/bench \
        --lists "$lists/lists.toml" --prefixes "$lists/prefixes.csv" --split grouped-domain
    "$bin" --quiet features --in "$root" --dataset labelled/bench --out-dataset features/bench
    "$bin" --quiet train --features "$root" --dataset features/bench \
        --config configs/models/quickstart/mlp2.toml --run "$work/runs/mlp2"
    "$bin" --quiet publish --registry "$reg" --model rep --run "$work/runs/mlp2" >/dev/null
    "$bin" --quiet registry --registry "$reg" promote rep@v1 --alias production >/dev/null
fi

echo "== batch: pdnsrep score over $records synthetic records"
rm -rf "$root/scores/bench" "$work/scores.ndjson"
/usr/bin/time -f "%e s wall, %M KiB peak RSS" "$bin" --quiet score --registry "$reg" \
    --model rep@production --out-dataset scores/bench --cof "$work/scores.ndjson" --json \
    > "$work/score.json"
python3 - "$work" <<'PY'
import json, random, sys
work = sys.argv[1]
s = json.load(open(f"{work}/score.json"))
print(f"scored {s['rows']} records in {s['seconds']:.1f} s: {s['records_per_s']:.0f} records/s "
      "(predict + domain/IP aggregation + COF)")
names, ips, posts = set(), set(), []
for line in open(f"{work}/scores.ndjson"):
    r = json.loads(line)
    names.add(r["rrname"])
    if r["rrtype"] in ("A", "AAAA"):
        ips.add(r["rdata"])
        if len(posts) < 2000:
            posts.append({"rrname": "new-" + r["rrname"], "rrtype": r["rrtype"],
                          "rdata": r["rdata"], "time_first": r["time_first"],
                          "time_last": r["time_last"], "count": r["count"]})
rng = random.Random(1)
paths = [f"/v1/domains/{n}" for n in rng.sample(sorted(names), min(5000, len(names)))]
paths += [f"/v1/ips/{a}" for a in rng.sample(sorted(ips), min(5000, len(ips)))]
rng.shuffle(paths)
open(f"{work}/paths.txt", "w").write("\n".join(paths) + "\n")
open(f"{work}/posts.txt", "w").write(
    "\n".join(json.dumps({"records": [p]}) for p in posts) + "\n")
PY

for features in 5 0; do
    cat > "$work/lookup-$features.lua" <<LUA
local paths = {}
for line in io.lines("$work/paths.txt") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i] .. "?records=5&neighbours=5&features=$features")
end
LUA
done
cat > "$work/post.lua" <<LUA
local bodies = {}
for line in io.lines("$work/posts.txt") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, "/v1/score", nil, bodies[i])
end
LUA

"$bin" --quiet serve --registry "$reg" --model rep@production --listen 127.0.0.1:0 --json \
    > "$work/serve.out" &
server=$!
trap 'kill $server 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
for _ in $(seq 600); do
    [ -s "$work/serve.out" ] && break
    sleep 0.5
done
url="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listening"])' "$work/serve.out")"
rss() { awk '/VmRSS/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$server/status"; }
echo
echo "== serve at $url: resident memory after loading: $(rss)"
echo "== lookups with the 5 features that weighed most: wrk -t1 -c$connections -d${seconds}s (GET /v1/domains/*, /v1/ips/*)"
wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$work/lookup-5.lua" "$url" | tee "$work/wrk-lookup.txt"
echo "== lookups without explanation (features=0): wrk -t1 -c$connections -d$((seconds / 3))s"
wrk -t1 -c"$connections" -d"$((seconds / 3))s" --latency -s "$work/lookup-0.lua" "$url" | tee "$work/wrk-lookup-0.txt"
echo "== scoring: wrk -t1 -c$connections -d$((seconds / 3))s (POST /v1/score, 1 record each)"
wrk -t1 -c"$connections" -d"$((seconds / 3))s" --latency -s "$work/post.lua" "$url" | tee "$work/wrk-post.txt"
echo
echo "== resident memory after the load: $(rss)"
curl -s "$url/metrics" | grep -E '^pdnsrep_http_requests_total' | sort || true
