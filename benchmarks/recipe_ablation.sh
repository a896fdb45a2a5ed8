#!/usr/bin/env bash
# Issue-13 ablation: one lever at a time against a short base run, on the 4-class brain tumour MRI Training set
# (CPU). The base is the default `medclass train` cut to a budget that lets a dozen runs fit in an afternoon on
# two cores: 96 px, 6 epochs, no early stopping. Every run uses the same duplicate-aware split (split.seed 42),
# so the 857 test images are the same for all and McNemar's tests pair them with the base.
#   benchmarks/recipe_ablation.sh [OUT_DIR]                 (every lever: about 1.5 h on 2 idle CPU cores)
#   LEVERS="base onecycle" benchmarks/recipe_ablation.sh OUT_DIR   (only those)
# Then: python benchmarks/ablation_table.py OUT_DIR   (the markdown table of BENCHMARKS.md)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${MEDCLASS_DATA_DIR:-../shared/datasets}/brain_tumor_mri_4class/Training"
out="${1:-runs/bench-recipe-ablation}"
medclass=.venv/bin/medclass
base=(--data "$data" --set split.seed=42 --set trainer.progress_bar=false --set trainer.patience=null
  --image-size 96 --epochs 6)

declare -A lever=(
  [base]=""
  [seed43]="--seed 43"
  [seed44]="--seed 44"
  [onecycle]="--set scheduler.name=onecycle"
  [warmup1]="--set scheduler.warmup_epochs=1"
  [smoothing0.1]="--set loss.label_smoothing=0.1"
  [light-aug]="--set augment.preset=light"
  [batch64-lr2e-3]="--batch-size 64 --lr 0.002"
  [lr2e-3]="--lr 0.002"
  [size128]="--image-size 128"
  [epochs12]="--epochs 12"
  [trivialaugment]="--set augment.auto=trivialaugment"
  [ema]="--set trainer.ema_decay=0.995"
  [mixup-cutmix]="--set augment.mixup=0.2 --set augment.cutmix=1.0"
  [resnet34]="--model resnet34"
)
order="base seed43 seed44 onecycle warmup1 smoothing0.1 light-aug batch64-lr2e-3 lr2e-3 size128 epochs12"
order+=" trivialaugment ema mixup-cutmix resnet34"

mkdir -p "$out"
touch "$out/times.txt"
for name in ${LEVERS:-$order}; do
  [[ -v "lever[$name]" ]] || { echo "unknown lever: $name (known: $order)" >&2; exit 2; }
  [[ -e "$out/$name/test_metrics.json" ]] && { echo "$name: done already, kept"; continue; }
  start=$(date +%s)
  # shellcheck disable=SC2086  # a lever is a list of flags
  if ! "$medclass" train "${base[@]}" ${lever[$name]} --out "$out/$name" >"$out/$name.log" 2>&1; then
    echo "$name: failed, see $out/$name.log" | tee -a "$out/times.txt"
    continue
  fi
  end=$(date +%s)
  echo "$name: $(((end - start) / 60)) min $(((end - start) % 60)) s" | tee -a "$out/times.txt"
done
