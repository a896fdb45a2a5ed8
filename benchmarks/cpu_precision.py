"""Training-step throughput on the CPU in fp32 and under bfloat16 autocast (``trainer.precision: bf16-mixed``).

    python benchmarks/cpu_precision.py --models resnet18 resnet50 efficientnet_b0 cnn --image-size 96 128

Both in channels_last (medclass's CPU default), one thread per core. The two precisions are timed alternately,
``--rounds`` times, so that a change of machine load hits both; the table gives each one's median images/s over
the rounds and their ratio. ``trainer.precision: auto`` takes bf16-mixed on a CPU with bfloat16 instructions
(AVX512-BF16 or AMX, :func:`medclass.training.fit.cpu_has_native_bf16`), where this ratio is above 1.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from channels_last import images_per_second  # the timed training step (a sibling script)

from medclass.training.fit import cpu_has_native_bf16


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50", "efficientnet_b0", "cnn"])
    parser.add_argument("--image-size", type=int, nargs="+", default=[96, 128])
    parser.add_argument("--in-chans", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch_size}, bfloat16 instructions: "
        f"{cpu_has_native_bf16()}, median of {args.steps} steps, {args.rounds} alternating rounds"
    )
    print("| model | size | fp32 (img/s) | bf16 autocast (img/s) | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name in args.models:
        for size in args.image_size:
            rates: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.rounds):
                for bf16 in (False, True):
                    rates[bf16].append(
                        images_per_second(
                            name, size, args.in_chans, args.batch_size, True, args.steps, args.warmup, bf16
                        )
                    )
            fp32, bf16 = statistics.median(rates[False]), statistics.median(rates[True])
            print(f"| {name} | {size} | {fp32:.1f} | {bf16:.1f} | {bf16 / fp32:.2f}x |")


if __name__ == "__main__":
    main()
