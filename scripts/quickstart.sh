#!/usr/bin/env bash
# The main job on the embedded default (local folder, CPU): generate a small synthetic passive
# DNS world, label, enrich and split it with the lists the generator wrote for it, compute its
# features, train the paper's baselines and a network, and print their evaluation side by side.
#
# usage: scripts/quickstart.sh [ROOT] [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-pdnsrep-data}"
records="${2:-200000}"
source scripts/build-bin.sh
lists="$root/lists/quickstart"
runs="$root/runs/quickstart"

"$bin" synth --out "$root" --name quickstart --records "$records" --seed 1 --stats
"$bin" label --in "$root" --dataset raw/quickstart --out-dataset labelled/quickstart \
    --lists "$lists/lists.toml" --prefixes "$lists/prefixes.csv" --split grouped-domain
"$bin" features --in "$root" --dataset labelled/quickstart --out-dataset features/quickstart

# A rerun starts the runs afresh (a run folder that holds a run is refused without --resume).
rm -rf "$runs"
for model in rule logreg mlp2; do
    echo
    echo "== train $model (configs/models/quickstart/$model.toml)"
    "$bin" train --features "$root" --dataset features/quickstart \
        --config "configs/models/quickstart/$model.toml" --run "$runs/$model"
    "$bin" eval --run "$runs/$model" --json > "$runs/$model/eval.json"
done

echo
echo "== test split, $records synthetic records (details: $runs/<model>/eval/report.md)"
python3 - "$runs" <<'PY'
import json, sys
runs = sys.argv[1]
classes = ["benign", "malicious", "sinkhole"]
head = "| model | " + " | ".join(f"{c} P / R / F1" for c in classes) + " | accuracy | macro-F1 |"
print(head)
print("|" + "---|" * (len(classes) + 3))
for model in ["rule", "logreg", "mlp2"]:
    e = json.load(open(f"{runs}/{model}/eval.json"))
    cells = []
    for c in e["per_class"]:
        cells.append(f"{c['precision']:.3f} / {c['recall']:.3f} / {c['f1']:.3f}")
    print(f"| {model} | " + " | ".join(cells) + f" | {e['accuracy']:.3f} | {e['macro_f1']:.3f} |")
PY
echo
echo "datasets under $root: raw/, truth/, labelled/, features/quickstart; runs under $runs"
