"""``trainer.precision: auto``: bf16-mixed on a GPU that supports bfloat16, 16-mixed on an older one; on a CPU
bf16-mixed where it has bfloat16 instructions, fp32 elsewhere."""

from __future__ import annotations

import pytest
import torch

from medclass.config import Config
from medclass.training import fit
from medclass.training.fit import resolve_precision
from medclass.training.module import LitClassifier


@pytest.mark.parametrize(
    ("cuda", "bf16", "cpu_bf16", "expected"),
    [
        (True, True, False, "bf16-mixed"),
        (True, False, True, "16-mixed"),
        (False, False, False, "32-true"),
        (False, False, True, "bf16-mixed"),
    ],
)
def test_auto_precision_follows_the_device_capability(
    cuda: bool, bf16: bool, cpu_bf16: bool, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(fit, "cpu_has_native_bf16", lambda: cpu_bf16)
    assert resolve_precision("auto") == expected


@pytest.mark.parametrize("probe", ["_is_avx512_bf16_supported", "_is_amx_tile_supported"])
def test_either_cpu_instruction_set_counts_and_a_missing_probe_means_no(
    probe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.delattr(torch.cpu, name, raising=False)
    assert not fit.cpu_has_native_bf16()
    monkeypatch.setattr(torch.cpu, probe, lambda: True, raising=False)
    assert fit.cpu_has_native_bf16()


def test_explicit_precision_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("16-mixed") == "16-mixed" and resolve_precision("32") == "32"


def test_validation_scores_in_full_precision_while_training_autocasts() -> None:
    """Val loss and metrics (early stopping, best checkpoint, tune's objective) are those of the fp32 model that
    evaluate and predict run, also when the training steps run under bf16 autocast."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    module = LitClassifier(model, Config.model_validate({}), num_classes=2)
    seen: list[torch.dtype] = []
    model[1].register_forward_hook(lambda _m, _i, output: seen.append(output.dtype))
    images, targets = torch.randn(8, 1, 4, 4), torch.tensor([0, 1] * 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        module(images)  # the training path: autocast applies
        module.validation_step((images, targets), 0)
    assert seen == [torch.bfloat16, torch.float32]
    expected = torch.nn.functional.cross_entropy(model(images), targets)
    assert module.val_loss.compute().item() == pytest.approx(expected.item(), abs=1e-6)


def test_precision_32_may_be_written_as_a_number() -> None:
    """``precision: 32`` in YAML and ``--set trainer.precision=32`` arrive as the number 32."""
    assert Config.model_validate({"trainer": {"precision": 32}}).trainer.precision == "32"
    with pytest.raises(ValueError, match="trainer.precision"):
        Config.model_validate({"trainer": {"precision": 64}})


def test_auto_keeps_fp32_on_the_cpu_for_a_model_with_depthwise_convolutions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EfficientNet and MobileNet trained slower under bf16 autocast on the CPU: auto keeps them in fp32."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(fit, "cpu_has_native_bf16", lambda: True)
    depthwise = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, groups=8), torch.nn.Conv2d(8, 4, 1))
    plain = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.Conv2d(8, 4, 1))
    assert resolve_precision("auto", depthwise) == "32-true"
    assert resolve_precision("auto", plain) == "bf16-mixed"
    assert resolve_precision("bf16-mixed", depthwise) == "bf16-mixed"  # an explicit setting is kept
