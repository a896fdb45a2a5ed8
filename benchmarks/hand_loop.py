"""The hand-written training loop that medclass's recipes are timed against (issue 26), as a seed project would
write it: torchvision ResNet-18 from scratch on RGB input through ``ImageFolder``, 128 px, batch 32, AdamW 1e-3
with weight decay 1e-4, one-cycle over 8 epochs, horizontal flip + ``RandomAffine(10, translate=0.05)``, no
validation split. It prints the test accuracy and the training minutes, so a recipe's time is a ratio measured
in the same session on the same machine.

    # the data set as published: train on Training, test on Testing
    python benchmarks/hand_loop.py --train DATA/Training --test DATA/Testing
    # the same images as a medclass run: its train+val images train, its test images test
    python benchmarks/hand_loop.py --splits runs/NAME/splits.csv

Kept deliberately plain (no medclass code): it is the alternative being measured.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from torchvision.transforms import v2

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def transforms(size: int, train: bool) -> v2.Compose:
    augment = [v2.RandomHorizontalFlip(), v2.RandomAffine(10, translate=(0.05, 0.05))] if train else []
    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.Resize((size, size), antialias=True),
            *augment,
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(MEAN, STD),
        ]
    )


class Listed(Dataset):
    """Images and labels listed in a medclass ``splits.csv`` (columns path, label, split)."""

    def __init__(self, rows: pd.DataFrame, classes: list[str], transform: v2.Compose) -> None:
        self.items = [
            (Path(p), classes.index(label)) for p, label in zip(rows["path"], rows["label"], strict=True)
        ]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[index]
        with Image.open(path) as image:
            return self.transform(image.convert("RGB")), label


def data_sets(args: argparse.Namespace) -> tuple[Dataset, Dataset, list[str]]:
    if args.splits is not None:
        table = pd.read_csv(args.splits)
        classes = sorted(table["label"].astype(str).unique())
        table["label"] = table["label"].astype(str)
        train = table[table["split"].isin(["train", "val"])]
        test = table[table["split"] == "test"]
        size = args.image_size
        return (
            Listed(train, classes, transforms(size, True)),
            Listed(test, classes, transforms(size, False)),
            classes,
        )
    train = datasets.ImageFolder(args.train, transform=transforms(args.image_size, True), loader=_rgb)
    test = datasets.ImageFolder(args.test, transform=transforms(args.image_size, False), loader=_rgb)
    return train, test, train.classes


def _rgb(path: str) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path)
    parser.add_argument("--test", type=Path)
    parser.add_argument("--splits", type=Path, help="a medclass run's splits.csv instead of --train/--test")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--predictions", type=Path, help="write each test image's true and predicted class here"
    )
    args = parser.parse_args()
    if args.splits is None and (args.train is None or args.test is None):
        parser.error("give --train and --test, or --splits")
    torch.manual_seed(0)
    train, test, classes = data_sets(args)
    loader = DataLoader(
        train, args.batch_size, shuffle=True, num_workers=args.workers, drop_last=len(train) > args.batch_size
    )
    model = torchvision.models.resnet18(num_classes=len(classes))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, 1e-3, epochs=args.epochs, steps_per_epoch=len(loader)
    )
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        for images, labels in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
            schedule.step()
        print(f"epoch {epoch + 1}/{args.epochs}: {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    minutes = (time.perf_counter() - start) / 60
    model.eval()
    predicted: list[int] = []
    with torch.inference_mode():
        for images, _ in DataLoader(test, 64, num_workers=args.workers):
            predicted += model(images).argmax(1).tolist()
    truth = [label for _, label in _items(test)]
    correct = sum(p == t for p, t in zip(predicted, truth, strict=True))
    print(f"test accuracy {correct / len(test):.4f} (n={len(test)}), training {minutes:.1f} min")
    if args.predictions is not None:
        rows = [
            (str(path), classes[t], classes[p]) for (path, t), p in zip(_items(test), predicted, strict=True)
        ]
        pd.DataFrame(rows, columns=["path", "label", "prediction"]).to_csv(args.predictions, index=False)


def _items(data: Dataset) -> list[tuple[Path, int]]:
    """(path, class index) of every image, in the data set's order."""
    return data.items if isinstance(data, Listed) else [(Path(p), t) for p, t in data.samples]


if __name__ == "__main__":
    main()
