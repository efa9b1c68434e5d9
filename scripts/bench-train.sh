#!/usr/bin/env bash
# Training speed on CPU: samples/s of one optimizer step (forward, backward, Adam, batch 512)
# for the MLP-only network (mlp2) and with the character encoder (mlp2-chars), in Burn on the
# flex backend and in PyTorch (scripts/anchors/torch_train.py), and their ratio.
#
# Usage: scripts/bench-train.sh [steps] [batch]
#   PROFILE=release (default) or dev; the dev profile still optimizes dependencies (opt-level 2).
#   SKIP_TORCH=1 skips the PyTorch anchor. The anchor's venv is `.venv-anchors`; it is created
#   with `pip install torch numpy` from PyPI when missing (the Linux wheel pulls CUDA libraries,
#   several GB, though only the CPU is used).
set -euo pipefail
cd "$(dirname "$0")/.."

steps="${1:-30}"
batch="${2:-512}"
profile="${PROFILE:-release}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pdnsrep-target}"
flag=()
dir=debug
[ "$profile" = release ] && flag=(--release) && dir=release
# Built with the whole workspace, as the tests are: selecting one package (`-p`) resolves other
# features for shared dependencies and rebuilds most of Burn.
cargo build -q "${flag[@]}" --workspace --examples --locked
"$CARGO_TARGET_DIR/$dir/examples/bench_step" "$steps" "$batch" | tee "$out/burn.jsonl"

if [ "${SKIP_TORCH:-0}" != 1 ]; then
    if [ ! -x .venv-anchors/bin/python ]; then
        python3 -m venv .venv-anchors
        .venv-anchors/bin/pip install -q torch numpy
    fi
    .venv-anchors/bin/python scripts/anchors/torch_train.py "$steps" "$batch" | tee "$out/torch.jsonl"
    python3 - "$out/burn.jsonl" "$out/torch.jsonl" <<'PY'
import json, sys
burn = {r["network"]: r for r in map(json.loads, open(sys.argv[1]))}
torch = {r["network"]: r for r in map(json.loads, open(sys.argv[2]))}
print(f"{'network':<12} {'burn-flex/s':>12} {'pytorch/s':>12} {'burn/torch':>10}")
for name, b in burn.items():
    t = torch.get(name)
    if t:
        print(f"{name:<12} {b['samples_per_s']:>12.0f} {t['samples_per_s']:>12.0f} "
              f"{b['samples_per_s'] / t['samples_per_s']:>10.2f}")
PY
fi
