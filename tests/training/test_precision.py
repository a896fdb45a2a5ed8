"""``trainer.precision: auto``: bf16-mixed on a GPU that supports bfloat16, 16-mixed on an older one, fp32 on CPU."""

from __future__ import annotations

import pytest
import torch

from medclass.training.fit import resolve_precision


@pytest.mark.parametrize(
    ("cuda", "bf16", "expected"),
    [(True, True, "bf16-mixed"), (True, False, "16-mixed"), (False, False, "32-true")],
)
def test_auto_precision_follows_the_gpu_capability(
    cuda: bool, bf16: bool, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert resolve_precision("auto") == expected


def test_explicit_precision_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("16-mixed") == "16-mixed" and resolve_precision("32") == "32"
