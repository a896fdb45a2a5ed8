#!/usr/bin/env bash
# Issue-13 measurement: `--recipe accurate` against the defaults, and a 3-seed ensemble of the recipe, on the
# 4-class brain tumour MRI Training set (CPU). Every run uses the same duplicate-aware split (split.seed 42), so
# the test images are the same for all and McNemar's tests pair them. Prints wall minutes and test accuracy
# with its bootstrap 95% CI per step; the run folders keep everything else.
#   benchmarks/recipe_accuracy.sh [OUT_DIR]        (about 2.5 h on 2 CPU cores: run it on an idle machine)
#   STEPS="default accurate-seed42" benchmarks/recipe_accuracy.sh OUT_DIR   (only those steps)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${MEDCLASS_DATA_DIR:-../shared/datasets}/brain_tumor_mri_4class/Training"
out="${1:-runs/bench-recipe-accuracy}"
medclass=.venv/bin/medclass
common=(--data "$data" --set split.seed=42 --set trainer.progress_bar=false)

timed() {  # timed NAME COMMAND...: run, then print the wall minutes of NAME
  local name=$1 start end
  shift
  start=$(date +%s)
  "$@"
  end=$(date +%s)
  echo "$name: $(((end - start) / 60)) min $(((end - start) % 60)) s" | tee -a "$out/times.txt"
}

steps="${STEPS:-default accurate-seed42 accurate-seed43 accurate-seed44 ensemble}"
wanted() { [[ " $steps " == *" $1 "* ]]; }

mkdir -p "$out"
touch "$out/times.txt"
if wanted default; then
  timed default "$medclass" train "${common[@]}" --out "$out/default"
fi
for seed in 42 43 44; do
  if wanted "accurate-seed$seed"; then
    timed "accurate-seed$seed" "$medclass" train --recipe accurate "${common[@]}" --seed "$seed" \
      --out "$out/accurate-seed$seed"
  fi
done
if wanted ensemble; then
  timed ensemble "$medclass" ensemble "$out"/accurate-seed{42,43,44} --out "$out/ensemble-accurate-3seeds"
fi

.venv/bin/python - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for name in ["default", "accurate-seed42", "accurate-seed43", "accurate-seed44", "ensemble-accurate-3seeds"]:
    if not (out / name / "test_metrics.json").exists():
        continue
    m = json.loads((out / name / "test_metrics.json").read_text())
    ci = m["ci"]["accuracy"]
    print(f"{name:26s} n={m['n']} accuracy {m['accuracy']:.4f} [{ci['ci_low']:.4f}, {ci['ci_high']:.4f}] "
          f"macro-F1 {m['macro_f1']:.4f}")
ensemble = out / "ensemble-accurate-3seeds" / "ensemble.json"
for row in json.loads(ensemble.read_text())["members"] if ensemble.exists() else []:
    t = row["mcnemar"]
    print(f"ensemble vs {Path(row['run']).name}: {row['ensemble_accuracy']:.4f} vs {row['member_accuracy']:.4f}, "
          f"McNemar b={t['b']} c={t['c']} p={t['p_value']:.3g}")
print((out / "times.txt").read_text())
PY
