"""Training epoch speed: the model's ceiling, a hand-written torchvision loop and ``medclass train``, back to back.

    python benchmarks/epoch_vs_loop.py --image-size 128            # the shared 224 px JPEGs, 128 px training
    python benchmarks/epoch_vs_loop.py --image-size 224
    python benchmarks/epoch_vs_loop.py --image-size 128 --source-size 512   # re-encoded 512 px JPEG copies

On ``--per-class`` images per class of the shared 4-class set (copied, or re-encoded at ``--source-size`` px,
once into a temporary folder), with the same model, batch size and optimizer (AdamW) everywhere:

(a) ceiling: forward + backward + AdamW steps on random tensors, as many steps as a training epoch has;
(b) loop: torchvision ``ImageFolder`` + PIL decode, resize and augment every epoch in ``--workers`` loader
    processes, then the same validation images scored (the way a seed project trains);
(c) medclass: ``medclass.api.train`` with ``split.val_frac`` = ``split.test_frac`` = ``--holdout``; the epoch
    is timed from its start to the next one (training, precise BN if on, validation, checkpoints).

The last of ``--epochs`` epochs is timed (page cache and medclass's array cache warm), in images trained per
second. ``--profile`` adds Lightning's SimpleProfiler table of medclass's run (where its epoch time goes).
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from PIL import Image
from torch.utils.data import DataLoader, Subset
from torchvision import datasets
from torchvision.transforms import v2

from medclass.models import create_model
from medclass.utils.paths import shared_data_dir


def make_subset(source: Path, target: Path, per_class: int, size: int | None) -> Path:
    """The first ``per_class`` images of every class folder, copied (or re-encoded as ``size`` px JPEG)."""
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        out = target / folder.name
        out.mkdir(parents=True)
        for path in sorted(folder.iterdir())[:per_class]:
            if size is None:
                shutil.copy2(path, out / path.name)
            else:
                with Image.open(path) as image:
                    image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC).save(
                        out / f"{path.stem}.jpg", quality=95
                    )
    return target


def model_and_optimizer(
    name: str, classes: int, channels: int
) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = create_model(name, num_classes=classes, in_chans=channels).to(memory_format=torch.channels_last)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)


def train_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, targets: torch.Tensor
):
    optimizer.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(
        model(images.contiguous(memory_format=torch.channels_last)), targets
    )
    loss.backward()
    optimizer.step()


def ceiling(args: argparse.Namespace, n_train: int) -> float:
    """Seconds of the last epoch of train steps on random tensors."""
    model, optimizer = model_and_optimizer(args.model, 4, args.channels)
    model.train()
    steps = math.ceil(n_train / args.batch_size)
    images = torch.randn(args.batch_size, args.channels, args.image_size, args.image_size)
    targets = torch.randint(0, 4, (args.batch_size,))
    seconds = 0.0
    for _ in range(args.epochs):
        started = time.perf_counter()
        for _ in range(steps):
            train_step(model, optimizer, images, targets)
        seconds = time.perf_counter() - started
    return seconds


def loop(args: argparse.Namespace, root: Path, n_train: int) -> float:
    """Seconds of the last epoch of a hand-written ImageFolder loop (training, then validation)."""
    size = args.image_size
    common = [v2.Grayscale(args.channels)] if args.channels == 1 else [v2.RGB()]
    train_tf = v2.Compose(
        [
            *common,
            v2.Resize((size, size), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomAffine(15, translate=(0.05, 0.05), scale=(0.9, 1.1)),
            v2.ColorJitter(0.1, 0.1),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize([0.5] * args.channels, [0.25] * args.channels),
        ]
    )
    eval_tf = v2.Compose(
        [
            *common,
            v2.Resize((size, size), antialias=True),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )
    order = torch.randperm(
        len(datasets.ImageFolder(root)), generator=torch.Generator().manual_seed(0)
    ).tolist()
    train_set = Subset(datasets.ImageFolder(root, train_tf), order[:n_train])
    val_set = Subset(datasets.ImageFolder(root, eval_tf), order[n_train : n_train + args.n_val])
    options = {
        "batch_size": args.batch_size,
        "num_workers": args.workers,
        "persistent_workers": args.workers > 0,
    }
    train_loader = DataLoader(train_set, shuffle=True, drop_last=False, **options)
    val_loader = DataLoader(val_set, **options)
    model, optimizer = model_and_optimizer(args.model, 4, args.channels)
    seconds = 0.0
    for _ in range(args.epochs):
        started = time.perf_counter()
        model.train()
        for images, targets in train_loader:
            train_step(model, optimizer, images, targets)
        model.eval()
        with torch.no_grad():
            for images, _ in val_loader:
                model(images.contiguous(memory_format=torch.channels_last))
        seconds = time.perf_counter() - started
    return seconds


class EpochClock(L.Callback):
    """Start of every epoch and end of training: an epoch's time includes its validation and checkpoints."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.marks.append(time.perf_counter())

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.marks.append(time.perf_counter())


def medclass_run(args: argparse.Namespace, root: Path, work: Path) -> tuple[float, int, str]:
    """Seconds of medclass's last epoch, the number of training images, and the profiler's report."""
    import medclass.training.fit as fit_module
    from medclass.api import train
    from medclass.config import build_config

    holdout = f"{args.holdout}"
    overrides = [
        f"model.name={args.model}",
        f"data.image_size={args.image_size}",
        f"data.channels={args.channels}",
        f"data.batch_size={args.batch_size}",
        f"data.cache_dir={work / 'cache'}",
        f"trainer.epochs={args.epochs}",
        f"split.val_frac={holdout}",
        f"split.test_frac={holdout}",
        "trainer.patience=null",
        "trainer.progress_bar=false",
        "evaluation.report=false",
        "evaluation.bootstrap=0",
        *args.set,
    ]
    config = build_config({}, overrides, {"data.path": str(root), "out": str(work / "run")})
    profiler = None
    if args.profile:
        from lightning.pytorch.profilers import SimpleProfiler

        build = fit_module.build_trainer
        profiler = SimpleProfiler(extended=False)

        def profiled(*a: Any, **k: Any) -> L.Trainer:
            trainer = build(*a, **k)
            trainer.profiler = profiler
            return trainer

        fit_module.build_trainer = profiled
    clock = EpochClock()
    result = train(config, callbacks=[clock])
    n_train = int((__import__("pandas").read_csv(result.run_dir / "splits.csv")["split"] == "train").sum())
    return clock.marks[-1] - clock.marks[-2], n_train, profile_table(profiler) if profiler else ""


def profile_table(profiler: Any, top: int = 14) -> str:
    """The actions that took most of the run (all epochs), in seconds, from Lightning's SimpleProfiler."""
    totals: dict[str, tuple[float, int]] = {}
    for action, durations in profiler.recorded_durations.items():
        name = action.split("{")[0] + ("(monitor)" if "'monitor': 'val" in action else "")
        seconds, calls = totals.get(name, (0.0, 0))
        totals[name] = (seconds + sum(durations), calls + len(durations))
    rows = sorted(totals.items(), key=lambda item: -item[1][0])[:top]
    lines = ["\n| medclass action (all epochs) | seconds | calls |", "|---|---:|---:|"]
    lines += [f"| {name} | {seconds:.2f} | {calls} |" for name, (seconds, calls) in rows]
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=shared_data_dir() / "brain_tumor_mri_4class" / "Training"
    )
    parser.add_argument("--per-class", type=int, default=600)
    parser.add_argument(
        "--source-size", type=int, default=None, help="re-encode the images at this size (px)"
    )
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="loader workers of the hand-written loop")
    parser.add_argument("--holdout", type=float, default=0.05, help="medclass's val and test fractions")
    parser.add_argument("--set", action="append", default=[], help="extra medclass config override")
    parser.add_argument("--profile", action="store_true", help="print Lightning's SimpleProfiler report")
    parser.add_argument("--skip", nargs="*", default=[], choices=("ceiling", "loop", "medclass"))
    return parser


def main(args: argparse.Namespace) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="medclass-epoch-"))
    try:
        root = make_subset(args.data, work / "data", args.per_class, args.source_size)
        total = sum(1 for p in root.rglob("*") if p.is_file())
        seconds: dict[str, float] = {}
        n_train = round(total * (1 - 2 * args.holdout))
        if "medclass" not in args.skip:
            seconds["medclass"], n_train, report = medclass_run(args, root, work)
        args.n_val = round(total * args.holdout)
        if "loop" not in args.skip:
            seconds["loop"] = loop(args, root, n_train)
        if "ceiling" not in args.skip:
            seconds["ceiling"] = ceiling(args, n_train)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    source = f"re-encoded at {args.source_size} px" if args.source_size else "as stored"
    print(
        f"\n{total} images ({args.per_class}/class, {source}), {n_train} trained per epoch, {args.model}, "
        f"{args.channels} channel(s), {args.image_size} px, batch {args.batch_size}, epoch {args.epochs} timed; "
        f"torch threads {torch.get_num_threads()}\n"
    )
    rate = {name: n_train / s for name, s in seconds.items()}
    print("| pipeline | epoch (s) | images/s | vs ceiling | vs loop |\n|---|---:|---:|---:|---:|")
    for name in ("ceiling", "loop", "medclass"):
        if name in rate:
            vs_ceiling = f"{rate[name] / rate['ceiling']:.2f}" if "ceiling" in rate else "-"
            vs_loop = f"{rate[name] / rate['loop']:.2f}" if "loop" in rate else "-"
            print(f"| {name} | {seconds[name]:.1f} | {rate[name]:.1f} | {vs_ceiling} | {vs_loop} |")
    if args.profile and "medclass" in seconds:
        print(report)
    return rate


if __name__ == "__main__":
    main(get_args_parser().parse_args())
