#!/usr/bin/env bash
# Issue-3 benchmark: ResNet-18 from scratch, 128 px, 8 epochs, on the 4-class brain tumour MRI Training set,
# on the CPU. Prints the wall time and the test figures; the run folder keeps everything else.
#   benchmarks/train_4class_resnet18.sh [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data="${MEDCLASS_DATA_DIR:-../shared/datasets}/brain_tumor_mri_4class/Training"
out="${1:-runs/bench-4class-resnet18}"
start=$(date +%s)
.venv/bin/medclass train --data "$data" --model resnet18 --image-size 128 --epochs 8 --out "$out" \
  --set trainer.progress_bar=false
end=$(date +%s)
echo "wall time: $((end - start)) s"
.venv/bin/python - "$out" <<'PY'
import json, sys, pandas as pd
run = sys.argv[1]
m = json.load(open(f"{run}/test_metrics.json"))
epochs = pd.read_csv(f"{run}/metrics.csv")
ci = m["ci"]
print(f"test n={m['n']} accuracy {m['accuracy']:.4f} [{ci['accuracy']['ci_low']:.4f}, {ci['accuracy']['ci_high']:.4f}] "
      f"macro-F1 {m['macro_f1']:.4f} [{ci['macro_f1']['ci_low']:.4f}, {ci['macro_f1']['ci_high']:.4f}] AUROC {m['auroc']:.4f}")
print("seconds per epoch:", " ".join(f"{s:.0f}" for s in epochs["seconds"]), f"(median {epochs['seconds'].median():.0f})")
PY
