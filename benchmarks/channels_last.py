"""Training-step throughput with and without channels_last memory format on the CPU.

    python benchmarks/channels_last.py --models resnet18 resnet50 --image-size 128 --in-chans 1 --threads 2

Each configuration runs a few warm-up steps and then times forward + backward + AdamW steps on random data,
reporting the median images/s; the format that wins decides ``model.channels_last: auto`` (see
medclass.api.train.use_channels_last).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from medclass.models import create_model


def images_per_second(
    name: str,
    image_size: int,
    in_chans: int,
    batch: int,
    channels_last: bool,
    steps: int,
    warmup: int,
    bf16: bool = False,
) -> float:
    """Median training throughput of one configuration (``bf16``: the forward pass under bfloat16 autocast, as
    Lightning's ``bf16-mixed`` runs it; the weights and the optimizer stay fp32)."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=4, in_chans=in_chans)
    images = torch.randn(batch, in_chans, image_size, image_size)
    targets = torch.randint(0, 4, (batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for step in range(warmup + steps):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(images), targets)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - started)
    return batch / statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--image-size", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--in-chans", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch_size}, median of {args.steps} steps"
    )
    print(
        f"{'model':12s} {'size':>5s} {'chans':>5s} {'contiguous':>12s} {'channels_last':>14s} {'speed-up':>9s}"
    )
    for name in args.models:
        for size in args.image_size:
            for chans in args.in_chans:
                plain, last = (
                    images_per_second(name, size, chans, args.batch_size, fmt, args.steps, args.warmup)
                    for fmt in (False, True)
                )
                print(f"{name:12s} {size:5d} {chans:5d} {plain:10.1f}/s {last:12.1f}/s {last / plain:8.2f}x")


if __name__ == "__main__":
    main()
