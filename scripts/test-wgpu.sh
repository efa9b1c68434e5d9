#!/usr/bin/env bash
# Cross-backend check: a model saved on flex (CPU) predicts the same on wgpu. Not part of CI:
# the wgpu build pulls ~400 crates (more than 28 minutes on a 2-core machine).
#
# Installs Mesa's Vulkan drivers (lavapipe, a software Vulkan on the CPU) when no Vulkan
# driver is present, so it runs on machines without a GPU. Set CARGO_TARGET_DIR to reuse a
# build.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1
fi

# Library level: weights saved on flex, loaded on wgpu, same probabilities within 1e-4.
cargo test -p pdnsrep-model --features wgpu --test backends -- --nocapture

# End to end: train a small run on flex, evaluate it on flex and on wgpu, compare.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build -q -p pdnsrep --features wgpu
bin=target/debug/pdnsrep
[ -n "${CARGO_TARGET_DIR:-}" ] && bin="$CARGO_TARGET_DIR/debug/pdnsrep"
printf 'google.com\nwikipedia.org\nexample.com\ngithub.com\nmozilla.org\n' >"$work/benign.txt"
printf 'xjwqkzpt.ru\nqpwoeiruty.com\nzmxncbvlas.net\nkjhgfdsapo.info\nmnbvcxzlkj.biz\n' >"$work/dga.txt"
"$bin" dga train --benign "$work/benign.txt" --dga "$work/dga.txt" --run "$work/run" --quiet >/dev/null
"$bin" dga score --run "$work/run" "$work/dga.txt" >"$work/flex.csv"
"$bin" dga score --run "$work/run" --backend wgpu "$work/dga.txt" >"$work/wgpu.csv"
python3 - "$work/flex.csv" "$work/wgpu.csv" <<'PY'
import sys
a = [float(l.split(",")[1]) for l in open(sys.argv[1])]
b = [float(l.split(",")[1]) for l in open(sys.argv[2])]
assert len(a) == len(b) > 0, (len(a), len(b))
diff = max(abs(x - y) for x, y in zip(a, b))
print(f"flex vs wgpu: {len(a)} names, max |Δp| = {diff:.2e}")
sys.exit(0 if diff < 1e-4 else 1)
PY
