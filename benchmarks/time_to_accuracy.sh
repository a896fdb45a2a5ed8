#!/usr/bin/env bash
# Issue 26: medclass against the hand-written loop (benchmarks/hand_loop.py), one after the other in one session,
# on the 4-class brain tumour MRI Training folder with an 80/10/10 duplicate-aware split (split.seed 42): the
# loop trains on train+val (90%) as it has no validation split, medclass on train (80%) and chooses on val; both
# test on the same 571 images. Every medclass command starts with a cold cache, so its minutes are the whole
# command as a first run pays them. Run it on an idle machine: about 1.5 h on 2 CPU cores for the default steps
# (`loop-settings`, medclass with the loop's settings, is one more).
#   benchmarks/time_to_accuracy.sh OUT_DIR
#   STEPS="loop fast96" benchmarks/time_to_accuracy.sh OUT_DIR      (only those steps; a finished one is kept)
# The medclass steps train at trainer.precision auto (bf16-mixed on a CPU with bfloat16 instructions since
# 2026-12-07; the runs of 2026-12-06 trained at 32 bits); `fast96-fp32` pins 32 bits for the side-by-side.
# Then: medclass evaluate OUT_DIR/NAME --all-epochs (per-epoch test accuracy) and
#   python benchmarks/time_to_accuracy.py OUT_DIR --png docs/time_to_accuracy.png
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
data="${MEDCLASS_DATA_DIR:-../shared/datasets}/brain_tumor_mri_4class/Training"
out="$(realpath -m "${1:-runs/bench-time-to-accuracy}")"
medclass=$root/.venv/bin/medclass
split=(--val-frac 0.1 --test-frac 0.1 --set split.seed=42)
common=(--data "$data" "${split[@]}" --seed 0 --set trainer.progress_bar=false --set checkpoint.every_epoch=true)
# A fixed budget spent in full (one-cycle, no early stopping), as the loop does, and the loop's augmentation.
budget=(--set trainer.patience=null --set scheduler.name=onecycle)
loop_augment=(--set augment.preset=none --set augment.hflip=0.5 --set augment.rotation=10
  --set augment.translate=0.05)
fast=("${budget[@]}" "${loop_augment[@]}" --image-size 96 --epochs 8 --set loss.label_smoothing=0.1)  # = --recipe fast until 2026-12-07 (now 11 epochs: fast96e11)

timed() {  # timed NAME COMMAND...: run it, append "NAME: M min S s" to times.txt, keep its start time
  local name=$1 start end rc
  shift
  start=$(date +%s)
  echo "$start" >"$out/$name.start"
  "$@" >"$out/$name.log" 2>&1
  rc=$?
  end=$(date +%s)
  [[ $rc == 0 ]] || echo "$name failed (exit $rc), see $out/$name.log" | tee -a "$out/failures.txt"
  echo "$name: $(((end - start) / 60)) min $(((end - start) % 60)) s" | tee -a "$out/times.txt"
}

train() {  # train NAME FLAGS...: one medclass run with a cold cache, kept if it finished before
  local name=$1
  shift
  [[ -e "$out/$name/test_metrics.json" ]] && { echo "$name: done already, kept"; return; }
  timed "$name" "$medclass" train "${common[@]}" --set "data.cache_dir=$out/cache-$name" --out "$out/$name" "$@"
}

mkdir -p "$out"
touch "$out/times.txt"
# The loop reads the same split from the file `medclass split` writes (the same seed and fractions as the runs).
[[ -e "$out/splits.csv" ]] || "$medclass" split "$data" --val-frac 0.1 --test-frac 0.1 --seed 42 \
  --out "$out/splits.csv" >/dev/null
for step in ${STEPS:-loop fast96 prog96 default128p accurate96x16}; do
  case $step in
    loop)
      mkdir -p "$out/loop"
      [[ -e "$out/loop/predictions_test.csv" ]] || timed loop "$root/.venv/bin/python" benchmarks/hand_loop.py \
        --splits "$out/splits.csv" --predictions "$out/loop/predictions_test.csv" ;;
    fast96) train "$step" "${fast[@]}" ;;  # precision auto: bf16-mixed on a CPU with bfloat16 instructions
    fast96-fp32) train "$step" "${fast[@]}" --set trainer.precision=32 ;;
    prog96) train "$step" "${fast[@]}" --set trainer.progressive_resizing.start_size=64 ;;
    accurate96x16) train "$step" "${fast[@]}" --epochs 16 ;;
    fast96e11) train "$step" "${fast[@]}" --epochs 11 ;;
    accurate96x20) train "$step" "${fast[@]}" --epochs 20 ;;
    accurate30) train "$step" --recipe accurate --epochs 30 ;;  # --recipe accurate until 2026-12-07
    accurate20) train "$step" --recipe accurate --epochs 20 ;;  # the same recipe shortened to 20 epochs
    default128x10) train "$step" "${budget[@]}" --image-size 128 --epochs 10 --set loss.label_smoothing=0.1 ;;
    default10) train "$step" --epochs 10 ;;  # the defaults of 2026-12-06 with 10 epochs instead of 15
    default) train "$step" ;;  # the defaults as they are when the step runs
    default128p) train "$step" "${budget[@]}" --image-size 128 --epochs 10 --set loss.label_smoothing=0.1 \
      --set trainer.progressive_resizing.start_size=64 ;;
    loop-settings) train "$step" "${budget[@]}" "${loop_augment[@]}" --image-size 128 --epochs 8 \
      --set data.channels=3 ;;
    *) echo "unknown step: $step" >&2; exit 2 ;;
  esac
done
