#!/usr/bin/env bash
# The GPU path, checked in one go on a CUDA machine: prints a table and exits nonzero on the first failure.
#
#   benchmarks/gpu_check.sh [PYTHON]        # PYTHON defaults to .venv/bin/python, else python3
#
# 1. Train throughput (forward + backward + AdamW, random tensors): resnet18 and resnet50 at 224 px, 3 channels,
#    batch 64, in fp32, AMP fp16 (with a GradScaler) and AMP bf16, each contiguous and channels_last.
# 2. `precision: auto` resolves to bf16-mixed where the GPU supports bf16 (16-mixed otherwise).
# 3. medclass train on the GPU (synthetic phantom data, 64 px, 2 epochs, precision auto), then predict and
#    explain (gradcam) on the GPU from the run; predict throughput against model-only inference (batch 64).
# 4. DDP on one GPU: the same training with trainer.strategy=ddp, trainer.devices=1.
#
# Without CUDA every step says "skipped" and the script exits 0, so it can be smoke-tested anywhere.
set -euo pipefail

cd "$(dirname "$0")/.."
PY="${1:-}"
if [[ -z "$PY" ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
WORK="$(mktemp -d -t medclass-gpu-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "skipped: no CUDA device (torch.cuda.is_available() is False); nothing was checked"
    exit 0
fi
"$PY" -c 'import torch; p = torch.cuda.get_device_properties(0); print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, capability {p.major}.{p.minor}; torch {torch.__version__}")'

echo
echo "## 1. Train throughput, 224 px, 3 channels, batch 64 (images/s, median of 10 steps after 5 warm-up)"
"$PY" - <<'PY'
import statistics, sys, time
import torch
from medclass.models import create_model

if not torch.cuda.is_available():
    print("skipped: no CUDA"); sys.exit(0)
device, batch = torch.device("cuda"), 64
precisions = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
print("| model | precision | contiguous | channels_last |\n|---|---|---:|---:|")
failed = False
for name in ("resnet18", "resnet50"):
    for label, dtype in precisions.items():
        if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            print(f"| {name} | {label} | unsupported | unsupported |"); continue
        cells = []
        for channels_last in (False, True):
            torch.manual_seed(0)
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            model = create_model(name, num_classes=4, in_chans=3).to(device, memory_format=fmt)
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
            scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16)
            images = torch.randn(batch, 3, 224, 224, device=device).contiguous(memory_format=fmt)
            targets = torch.randint(0, 4, (batch,), device=device)
            times = []
            for step in range(15):
                torch.cuda.synchronize(); started = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
                    loss = torch.nn.functional.cross_entropy(model(images), targets)
                scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update()
                torch.cuda.synchronize()
                if step >= 5:
                    times.append(time.perf_counter() - started)
            if not torch.isfinite(loss):
                failed = True
            cells.append(f"{batch / statistics.median(times):,.0f}")
        print(f"| {name} | {label} | {cells[0]} | {cells[1]} |")
sys.exit(1 if failed else 0)
PY

echo
echo "## 2. precision: auto"
"$PY" - <<'PY'
import sys, torch
from medclass.training.fit import resolve_precision
chosen = resolve_precision("auto")
expected = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
print(f"auto -> {chosen} (bf16 supported: {torch.cuda.is_bf16_supported()})")
sys.exit(0 if chosen == expected else 1)
PY

echo
echo "## 3. medclass train / predict / explain on the GPU"
"$PY" -c "from pathlib import Path; from medclass.data.synthetic import make_phantom_dataset; make_phantom_dataset(Path('$WORK/data'), n_per_class=256, size=64, seed=1)"
COMMON=(--data "$WORK/data" --image-size 64 --epochs 2 --set trainer.progress_bar=false --set evaluation.bootstrap=0
        --set evaluation.report=false --set data.cache_dir="$WORK/cache")
start=$SECONDS
"$PY" -m medclass train "${COMMON[@]}" --out "$WORK/run" --set trainer.accelerator=gpu --set trainer.precision=auto \
    > "$WORK/train.log" 2>&1 || { tail -30 "$WORK/train.log"; echo "FAILED: train on the GPU"; exit 1; }
echo "train: $(grep -c '^epoch ' "$WORK/train.log") epochs in $((SECONDS - start)) s; $(grep '^test' "$WORK/train.log")"
"$PY" -m medclass predict "$WORK/run" "$WORK/data" --out "$WORK/predictions.csv" > "$WORK/predict.log" 2>&1 \
    || { tail -20 "$WORK/predict.log"; echo "FAILED: predict on the GPU"; exit 1; }
echo "predict: $(($(wc -l < "$WORK/predictions.csv") - 1)) images"
"$PY" -m medclass explain "$WORK/run" "$WORK/data/tumor" --method gradcam --out "$WORK/cams" > "$WORK/explain.log" 2>&1 \
    || { tail -20 "$WORK/explain.log"; echo "FAILED: explain on the GPU"; exit 1; }
echo "explain: $(find "$WORK/cams" -type f | wc -l) files"
if [[ -f benchmarks/predict_throughput.py ]]; then
    "$PY" benchmarks/predict_throughput.py --run "$WORK/run" --data "$WORK/data" --limit 512 \
        || { echo "FAILED: predict throughput"; exit 1; }
fi

echo
echo "## 4. DDP on one GPU"
"$PY" -m medclass train "${COMMON[@]}" --out "$WORK/ddp" --set trainer.accelerator=gpu --set trainer.strategy=ddp \
    --set trainer.devices=1 > "$WORK/ddp.log" 2>&1 || { tail -30 "$WORK/ddp.log"; echo "FAILED: ddp on one GPU"; exit 1; }
echo "ddp: $(grep '^test' "$WORK/ddp.log")"
echo
echo "all GPU checks passed"
