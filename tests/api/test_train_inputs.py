"""Input and model options trained end to end, each seen where it acts: in what the model receives, in the
batch-norm statistics it keeps, or in the weights it starts from.

Precise BN, channels_last, ``data.normalize``, ``data.channels``, ``model.weights`` and ``model.pretrained``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
from recording import module_inputs
from torch import nn

from medclass.api import predict, train
from medclass.config import Config
from medclass.inference.checkpoint import read_checkpoint

QUIET = ["evaluation.report=false", "evaluation.bootstrap=0", "trainer.epochs=1", "augment.preset=none"]


def _train(fast_config: Callable[..., Config], data: Path, out: Path, overrides: list[str]) -> Path:
    return train(fast_config(data, out, [*QUIET, *overrides])).run_dir


def _train_paths(run: Path) -> list[str]:
    splits = pd.read_csv(run / "splits.csv")
    return splits.loc[splits["split"] == "train", "path"].tolist()


def _best_state(run: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(run / "checkpoints" / "best.ckpt")["state_dict"]


# Precise BN ---------------------------------------------------------------------------------------------


def _first_bn_input_stats(run: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact per-channel mean and variance of the first BatchNorm layer's input over the training images."""
    with module_inputs(nn.BatchNorm2d) as seen:
        predict(run, _train_paths(run))
    x = torch.cat(seen[0]).double()
    return x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3))


@pytest.mark.parametrize("setting", ["auto", "false"])
def test_precise_bn_keeps_the_exact_training_set_statistics(
    setting: str, phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    # batch 8: the 40 training images make 5 equal batches (fewer than 50 steps, so `auto` turns it on), and
    # the average of the batch means is the exact mean.
    overrides = ["data.batch_size=8", f"trainer.precise_bn={setting}"]
    run = _train(fast_config, phantom_data, tmp_path / "run", overrides)
    state = _best_state(run)
    key = next(k for k in state if k.endswith("running_mean"))
    running_mean, running_var = (
        state[key].double(),
        state[key.replace("running_mean", "running_var")].double(),
    )
    mean, var = _first_bn_input_stats(run)
    exact = torch.allclose(running_mean, mean, atol=1e-4, rtol=1e-4)
    if setting == "auto":
        assert exact, (running_mean, mean)
        # Variance: the average of the 5 batch variances, within a few percent of the whole set's.
        torch.testing.assert_close(running_var, var, rtol=0.05, atol=1e-6)
    else:  # momentum 0.1 over 5 steps from (0, 1): far from the data's statistics
        assert not exact and not torch.allclose(running_var, var, rtol=0.05)


def test_precise_bn_auto_turns_off_at_50_steps_per_epoch() -> None:
    from medclass.training.precise_bn import AUTO_MAX_STEPS, use_precise_bn

    with_bn, without_bn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), nn.Conv2d(1, 2, 3)
    assert AUTO_MAX_STEPS == 50
    assert use_precise_bn("auto", 49, with_bn) and not use_precise_bn("auto", 50, with_bn)
    assert not use_precise_bn("auto", 3, without_bn)
    assert use_precise_bn(True, 500, with_bn) and not use_precise_bn(False, 3, with_bn)


def test_precise_bn_uses_at_most_its_batch_budget_and_updates_the_statistics(
    phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    import medclass.training.precise_bn as precise_bn

    calls: list[tuple[int, bool]] = []
    recompute = precise_bn.recompute_bn_stats

    def recording(model: nn.Module, batches, max_batches: int, forward=None) -> int:
        drawn = 0

        def counted():
            nonlocal drawn
            for batch in batches:
                drawn += 1
                yield batch

        layer = precise_bn.batch_norm_layers(model)[0]
        before = layer.running_mean.clone()
        used = recompute(model, counted(), max_batches, forward)
        calls.append((drawn, not torch.equal(before, layer.running_mean)))
        assert used == drawn
        return used

    monkeypatch.setattr(precise_bn, "recompute_bn_stats", recording)
    # 40 training images in batches of 4: 10 steps (precise BN on), of which 3 batches are used.
    overrides = ["data.batch_size=4", "trainer.precise_bn_batches=3", "trainer.epochs=2"]
    run = _train(fast_config, phantom_data, tmp_path / "run", overrides)
    assert calls == [(3, True), (3, True)]  # one recomputation per epoch, 3 batches each, statistics changed
    assert len(_train_paths(run)) > 3 * 4


def test_precise_bn_draws_a_fixed_random_subset_of_the_training_split(
    phantom_data: Path, fast_config: Callable[..., Config], tmp_path: Path
) -> None:
    from medclass.api.train import build_datamodule
    from medclass.data.run_data import prepare_data

    config = fast_config(phantom_data, tmp_path / "run", QUIET)
    datamodule = build_datamodule(config, prepare_data(config))
    train_rows = set(datamodule.rows["train"].tolist())
    first, again = datamodule.stats_dataloader(12), datamodule.stats_dataloader(12)
    assert len(first.dataset) == 12 and set(first.dataset.rows.tolist()) <= train_rows
    assert first.dataset.rows.tolist() == again.dataset.rows.tolist()
    # Drawn at random, not the head of the split (which lists the images class by class).
    assert first.dataset.rows.tolist() != datamodule.rows["train"][:12].tolist()
    assert len(datamodule.stats_dataloader(10_000).dataset) == len(train_rows)


# channels_last, normalisation, channels -----------------------------------------------------------------


@pytest.mark.parametrize("setting", ["auto", "false"])
def test_channels_last_reaches_the_convolutions_in_training(
    setting: str, phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    with module_inputs(nn.Conv2d) as seen:
        _train(fast_config, phantom_data, tmp_path / "run", [f"model.channels_last={setting}"])
    second = seen[1][0]  # 8 channels: a single-channel input is contiguous in both formats
    assert second.is_contiguous(memory_format=torch.channels_last) == (setting == "auto")
    assert second.is_contiguous() == (setting == "false")


def _first_conv_inputs(run: Path) -> torch.Tensor:
    with module_inputs(nn.Conv2d) as seen:
        predict(run, _train_paths(run))
    return torch.cat(seen[0]).double()


@pytest.mark.parametrize("mode", ["dataset", "imagenet", "none"])
def test_normalize_scales_the_input_as_named(
    mode: str, phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    run = _train(fast_config, phantom_data, tmp_path / "run", [f"data.normalize={mode}"])
    x = _first_conv_inputs(run)
    preprocess = read_checkpoint(run / "checkpoints" / "best.ckpt")["medclass"]["preprocess"]
    grey_mean, grey_std = (0.485 + 0.456 + 0.406) / 3, (0.229 + 0.224 + 0.225) / 3
    expected = {"dataset": None, "imagenet": ([grey_mean], [grey_std]), "none": ([0.0], [1.0])}[mode]
    if expected is not None:
        assert preprocess["mean"] == pytest.approx(expected[0]) and preprocess["std"] == pytest.approx(
            expected[1]
        )
    pixels = x * preprocess["std"][0] + preprocess["mean"][0]  # back to [0, 1] pixel values
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
    if mode == "none":
        assert torch.equal(x, pixels) and x.max() > 0.5
    elif mode == "dataset":  # the training images' own statistics: mean 0, std 1
        assert abs(float(x.mean())) < 1e-3 and float(x.std()) == pytest.approx(1.0, abs=1e-2)
    else:
        assert float(x.mean()) == pytest.approx((float(pixels.mean()) - grey_mean) / grey_std, abs=1e-6)
        assert abs(float(x.mean())) > 0.1  # the phantom's dark background is far from ImageNet's mean


def test_three_channels_feed_a_three_channel_model(
    phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    run = _train(fast_config, phantom_data, tmp_path / "run", ["data.channels=3"])
    x = _first_conv_inputs(run)
    assert x.shape[1] == 3
    first_conv = next(v for k, v in _best_state(run).items() if v.ndim == 4)
    assert first_conv.shape[1] == 3
    # The grey phantom images, repeated into three channels (the normalisation is per channel).
    preprocess = read_checkpoint(run / "checkpoints" / "best.ckpt")["medclass"]["preprocess"]
    mean, std = torch.tensor(preprocess["mean"]), torch.tensor(preprocess["std"])
    pixels = x * std.view(1, 3, 1, 1).double() + mean.view(1, 3, 1, 1).double()
    torch.testing.assert_close(pixels[:, 0], pixels[:, 2], atol=1e-5, rtol=0)


# Starting weights ---------------------------------------------------------------------------------------


def test_weights_file_is_where_training_starts(
    phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    source = _train(fast_config, phantom_data, tmp_path / "source", ["seed=21"])
    weights = source / "checkpoints" / "best.ckpt"
    # A frozen backbone keeps the loaded convolutions: they must be the file's, not a fresh initialisation.
    run = _train(
        fast_config,
        phantom_data,
        tmp_path / "run",
        [f"model.weights={weights}", "model.freeze=backbone", "seed=3"],
    )
    fresh = _train(fast_config, phantom_data, tmp_path / "fresh", ["model.freeze=backbone", "seed=3"])
    before, after, unloaded = _best_state(source), _best_state(run), _best_state(fresh)
    conv = next(k for k in before if "features" in k and k.endswith("weight") and before[k].ndim == 4)
    assert torch.equal(after[conv], before[conv])
    assert not torch.equal(unloaded[conv], before[conv])


@pytest.mark.slow
def test_pretrained_resnet18_from_the_local_cache_trains(
    hub_dir: Path, phantom_data: Path, tmp_path: Path, fast_config: Callable[..., Config]
) -> None:
    import torchvision

    from medclass.models.pretrained import hub_checkpoint_path

    torch.manual_seed(5)
    source = torchvision.models.resnet18()
    path = hub_checkpoint_path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url)
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)
    overrides = ["model.name=resnet18", "model.pretrained=true", "model.freeze=backbone"]
    run = _train(fast_config, phantom_data, tmp_path / "run", overrides)
    state = {k.removeprefix("model."): v for k, v in _best_state(run).items()}
    assert torch.equal(state["layer3.1.conv2.weight"], source.layer3[1].conv2.weight)
    # Grey input: the first convolution is the pretrained one summed over its RGB inputs.
    torch.testing.assert_close(state["conv1.weight"], source.conv1.weight.sum(dim=1, keepdim=True))
    assert state["fc.weight"].shape == (2, 512)
