"""``predict`` and ``evaluate`` throughput against model-only inference, on a folder of image files.

    python benchmarks/predict_throughput.py --per-class 250            # 1,000 images of the shared 4-class set
    python benchmarks/predict_throughput.py --run RUN_DIR --data DIR   # an existing run, any labelled folder

(a) model only: the run's best checkpoint loaded by ``medclass.inference.Predictor``, its model in eval mode
    under ``torch.inference_mode`` on random tensors of the input size, ``--batch-size`` at a time;
(b) ``medclass.api.predict(run, [folder])``: files decoded, preprocessed as the checkpoint says, predicted;
(c) ``medclass.api.evaluate(run, data=folder)``: the same plus the metrics (bootstrap off).

Without ``--run`` a ResNet-18 run is made first (128 px, 1 channel, two training steps: the speed of
inference does not depend on how well the model was trained). Each of (b) and (c) runs twice and the second
(warm page cache) is reported, in images per second.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from medclass.utils.paths import shared_data_dir


def make_run(data: Path, out: Path, batch_size: int) -> Path:
    from medclass.api import train
    from medclass.config import build_config

    overrides = [
        "model.name=resnet18",
        "data.image_size=128",
        "data.channels=1",
        f"data.batch_size={batch_size}",
        "trainer.epochs=1",
        "trainer.limit_train_batches=2",
        "split.val_frac=0.05",
        "split.test_frac=0.05",
        "trainer.progress_bar=false",
        "evaluation.report=false",
        "evaluation.bootstrap=0",
        f"data.cache_dir={out.parent / 'cache'}",
    ]
    return train(build_config({}, overrides, {"data.path": str(data), "out": str(out)})).run_dir


def model_only(run: Path, n: int, batch_size: int) -> float:
    """Seconds for ``n`` images through the checkpoint's model alone."""
    from medclass.inference import Predictor

    predictor = Predictor.load(run)
    size, channels = predictor.meta.preprocess.image_size, predictor.meta.preprocess.channels
    images = torch.randn(batch_size, channels, size, size, device=predictor.device)
    with torch.inference_mode():
        predictor.model(images)  # warm-up
        started = time.perf_counter()
        for start in range(0, n, batch_size):
            predictor.model(images[: min(batch_size, n - start)])
        if predictor.device.type == "cuda":
            torch.cuda.synchronize()
    return time.perf_counter() - started


def main(args: argparse.Namespace) -> dict[str, float]:
    from medclass.api import evaluate, predict
    from medclass.data.discovery import discover

    work = Path(tempfile.mkdtemp(prefix="medclass-predict-"))
    try:
        data = args.data
        if data is None:
            data = work / "data"
            for folder in sorted(p for p in args.source.iterdir() if p.is_dir()):
                (data / folder.name).mkdir(parents=True)
                for path in sorted(folder.iterdir())[: args.per_class]:
                    shutil.copy2(path, data / folder.name / path.name)
        n = len(discover(data).samples)
        run = args.run or make_run(data, work / "run", args.batch_size)
        seconds = {"model only": model_only(run, n, args.batch_size)}
        for label, call in (
            ("predict", lambda: predict(run, [data], batch_size=args.batch_size)),
            (
                "evaluate",
                lambda: evaluate(run, data=data, bootstrap=0, out=work / "eval.json", overwrite=True),
            ),
        ):
            for _ in range(2):
                started = time.perf_counter()
                call()
                seconds[label] = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{n} images in {data}, batch {args.batch_size}, torch threads {torch.get_num_threads()}\n")
    print("| path | seconds | images/s | vs model only |\n|---|---:|---:|---:|")
    for label, s in seconds.items():
        print(f"| {label} | {s:.2f} | {n / s:,.1f} | {seconds['model only'] / s:.2f} |")
    return seconds


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--source", type=Path, default=shared_data_dir() / "brain_tumor_mri_4class" / "Training"
    )
    parser.add_argument("--per-class", type=int, default=250, help="images per class copied from --source")
    parser.add_argument("--data", type=Path, default=None, help="a labelled folder to use as it is")
    parser.add_argument("--run", type=Path, default=None, help="an existing run folder")
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=64)
    return parser


if __name__ == "__main__":
    main(get_args_parser().parse_args())
