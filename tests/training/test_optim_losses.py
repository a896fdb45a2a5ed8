"""Every optimizer, scheduler and loss option builds and takes a training step."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from medclass.config.schema import LossConfig, OptimConfig, SchedulerConfig
from medclass.training.losses import ClassificationLoss, class_weights, l2_penalty
from medclass.training.optim import build_optimizer, build_scheduler, parameter_groups


def _tiny_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: ClassificationLoss) -> float:
    x, y = torch.randn(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    optimizer.zero_grad()
    loss = loss_fn(model(x), y, model)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_each_optimizer_changes_the_weights(name: str, nesterov: bool) -> None:
    model = _tiny_model()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = build_optimizer(model.parameters(), OptimConfig(name=name, lr=0.1, nesterov=nesterov))
    assert torch.isfinite(torch.tensor(_step(model, optimizer, ClassificationLoss(LossConfig()))))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    if name == "sgd":
        assert optimizer.param_groups[0]["nesterov"] is nesterov


@pytest.mark.parametrize("name", ["none", "cosine", "step", "multistep", "plateau", "onecycle"])
@pytest.mark.parametrize("warmup", [0, 2])
def test_each_scheduler_steps(name: str, warmup: int) -> None:
    model = _tiny_model()
    optimizer = build_optimizer(model.parameters(), OptimConfig(lr=0.01))
    config = SchedulerConfig(name=name, warmup_epochs=warmup, step_size=2, milestones=[2, 4])
    entries = build_scheduler(optimizer, config, epochs=6, steps_per_epoch=3)
    if name == "none" and warmup == 0:
        assert entries == []
        return
    lrs = []
    for _epoch in range(6):
        for _batch in range(3):
            _step(model, optimizer, ClassificationLoss(LossConfig()))
            for entry in entries:
                if entry["interval"] == "step":
                    entry["scheduler"].step()
        for entry in entries:
            if entry["interval"] == "epoch":
                scheduler = entry["scheduler"]
                scheduler.step(1.0) if "monitor" in entry else scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert all(lr > 0 for lr in lrs)
    if warmup:
        assert lrs[0] < 0.01  # still warming up after the first epoch
    if name in ("cosine", "step", "multistep", "onecycle"):
        assert lrs[-1] < max(lrs)


def test_warmup_rises_linearly_to_the_base_rate() -> None:
    model = _tiny_model()
    optimizer = build_optimizer(model.parameters(), OptimConfig(lr=0.1))
    (entry,) = build_scheduler(
        optimizer, SchedulerConfig(name="none", warmup_epochs=4), epochs=10, steps_per_epoch=1
    )
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(5):
        optimizer.step()
        entry["scheduler"].step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(0.001)
    assert lrs[4] == pytest.approx(0.1) and lrs[5] == pytest.approx(0.1)
    assert all(b > a for a, b in itertools.pairwise(lrs[:5]))


def test_class_weights_auto_is_inverse_frequency_with_mean_one() -> None:
    weights = class_weights("auto", [30, 10])
    assert weights.tolist() == pytest.approx([40 / 60, 40 / 20])
    assert class_weights("none", [3, 1]) is None
    assert class_weights([1.0, 2.0], [3, 1]).tolist() == [1.0, 2.0]


def test_class_weights_list_must_match_class_count() -> None:
    from medclass.utils.errors import ConfigError

    with pytest.raises(ConfigError, match="one weight per class"):
        class_weights([1.0, 2.0, 3.0], [3, 1])


def test_l2_penalty_adds_the_sum_of_squared_weights() -> None:
    model = _tiny_model()
    x, y = torch.randn(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    plain = ClassificationLoss(LossConfig())(model(x), y, model)
    penalised = ClassificationLoss(LossConfig(l2_penalty=0.01))(model(x), y, model)
    expected = sum(float((p**2).sum()) for p in model.parameters())
    assert float(l2_penalty(model)) == pytest.approx(expected, rel=1e-5)
    assert float(penalised - plain) == pytest.approx(0.01 * expected, rel=1e-4)


def test_label_smoothing_raises_the_loss_of_confident_correct_predictions() -> None:
    logits, y = torch.tensor([[10.0, -10.0, -10.0]]), torch.tensor([0])
    plain = ClassificationLoss(LossConfig())(logits, y)
    smoothed = ClassificationLoss(LossConfig(label_smoothing=0.1))(logits, y)
    assert float(smoothed) > float(plain)


@pytest.mark.parametrize("scheduler", ["cosine", "onecycle"])
def test_discriminative_rates_train_the_backbone_slower_than_the_head(scheduler: str) -> None:
    from medclass.models import create_model, get_classifier

    model = create_model("resnet18", num_classes=2, in_chans=1, pretrained=False)
    config = OptimConfig(lr=1e-2, backbone_lr_scale=0.1)
    optimizer = build_optimizer(parameter_groups(model, config), config)
    build_scheduler(optimizer, SchedulerConfig(name=scheduler), epochs=4, steps_per_epoch=3)
    backbone, head = optimizer.param_groups
    assert {id(p) for p in head["params"]} == {id(p) for p in get_classifier(model).parameters()}
    assert len(backbone["params"]) + len(head["params"]) == len(list(model.parameters()))
    assert backbone["lr"] == pytest.approx(head["lr"] * 0.1)  # the ratio holds under the schedule too
    # The default is one group at lr, the optimizer every run had before the option.
    single = build_optimizer(parameter_groups(model, OptimConfig(lr=1e-2)), OptimConfig(lr=1e-2))
    assert len(single.param_groups) == 1 and single.param_groups[0]["lr"] == 1e-2
