"""MC dropout, TTA, predictive entropy and referral: pure functions and the predict/referral API."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from medclass.api import predict
from medclass.assessment.referral import referral_evaluation
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.decision import Decision, LabelRule, MultilabelDecision
from medclass.inference.inputs import labelled_files
from medclass.inference.passes import predictive_entropy, summarize_label_passes, summarize_passes
from medclass.inference.runner import Predictor
from medclass.inference.stochastic import dropout_active, dropout_layers, stacked_logits
from medclass.utils.errors import ConfigError


def mc_dropout_predict(
    model: nn.Module, batches: list[torch.Tensor], passes: int, seed: int = 0
) -> np.ndarray:
    """``(passes, N, K)`` logits of MC-dropout passes, as the predictor runs them."""
    with dropout_active(model):
        return stacked_logits(model, lambda p: batches, passes, seed)


def uncertain_inference(model: nn.Module, meta: object, paths: list[str], **options: int) -> object:
    return Predictor(model, meta).predict_files(paths, **options)


def _net(dropout: float | None) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten()]
    if dropout is not None:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(4 * 6 * 6, 3))
    model = nn.Sequential(*layers)
    with torch.no_grad():  # non-trivial running statistics, so that batch statistics would differ
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    return model.eval()


def test_dropout_layers_leave_out_layers_that_drop_nothing() -> None:
    from medclass.models import create_model

    assert len(dropout_layers(nn.Sequential(nn.Dropout(0.0), nn.Linear(2, 2), nn.Dropout2d(0.3)))) == 1
    # The default model's head holds a Dropout(p=0.0) placeholder: MC dropout on it has nothing to switch on.
    resnet = create_model("resnet18", num_classes=2, in_chans=1)
    assert any(isinstance(m, nn.Dropout) and m.p == 0 for m in resnet.modules())
    assert dropout_layers(resnet) == []
    assert len(dropout_layers(create_model("resnet18", num_classes=2, in_chans=1, drop_rate=0.2))) == 1


def test_dropout_active_switches_only_dropout_and_restores_modes() -> None:
    model = _net(0.5)
    model[1].train()  # a caller's odd mode is restored too
    with dropout_active(model) as layers:
        assert layers == [model[4]]
        assert model[4].training and not model[1].training and not model.training
    assert model[1].training and not model[4].training


def test_mc_dropout_spreads_with_dropout_and_is_exactly_zero_without() -> None:
    x = torch.randn(5, 1, 8, 8)
    batches = [x[:3], x[3:]]
    stats = _net(None)[1].running_mean.clone()
    with_dropout = summarize_passes(
        torch.softmax(torch.from_numpy(mc_dropout_predict(_net(0.5), batches, 6)), -1).numpy()
    )
    assert (with_dropout.std > 0).all()

    plain = _net(None)
    logits = mc_dropout_predict(plain, batches, 6)
    assert logits.shape == (6, 5, 3)
    summary = summarize_passes(torch.softmax(torch.from_numpy(logits), -1).double().numpy())
    assert (summary.std == 0).all()  # exactly: identical passes, spread taken relative to the first
    with torch.no_grad():
        np.testing.assert_array_equal(logits[0], plain(x).numpy())  # batch-norm used its running statistics
    assert torch.equal(plain[1].running_mean, stats)


def test_mc_dropout_is_repeatable_with_a_seed() -> None:
    x = [torch.randn(4, 1, 8, 8)]
    first = mc_dropout_predict(_net(0.5), x, 3, seed=7)
    np.testing.assert_array_equal(first, mc_dropout_predict(_net(0.5), x, 3, seed=7))
    assert not np.array_equal(first, mc_dropout_predict(_net(0.5), x, 3, seed=8))


def test_predictive_entropy_bounds() -> None:
    probs = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(predictive_entropy(probs), [0.0, math.log(3), math.log(2)])


def test_label_passes_mean_each_label_and_rank_by_mean_binary_entropy() -> None:
    # 2 passes, 2 images, 2 labels; image 0's passes agree at 0.5 (doubt, spread 0), image 1's disagree.
    passes = np.array([[[0.5, 0.5], [0.9, 0.1]], [[0.5, 0.5], [0.7, 0.3]]])
    rules = MultilabelDecision({"a": LabelRule(threshold=0.6), "b": LabelRule(threshold=0.2)})
    summary = summarize_label_passes(passes, rules)
    np.testing.assert_allclose(summary.probs, [[0.5, 0.5], [0.8, 0.2]])
    assert summary.predicted.tolist() == [[False, True], [True, True]]
    binary = [-(p * math.log(p) + (1 - p) * math.log(1 - p)) for p in (0.5, 0.8)]
    np.testing.assert_allclose(summary.entropy, [binary[0], binary[1]])
    np.testing.assert_allclose(summary.std, [0.0, 0.1])
    assert summary.entropy[0] > summary.entropy[1]  # the doubtful image is referred first


def test_summary_of_one_pass_is_that_pass_exactly() -> None:
    probs = np.random.default_rng(0).dirichlet([1, 1, 1], size=7)
    summary = summarize_passes(probs[None])
    assert np.array_equal(summary.probs, probs)
    assert np.array_equal(summary.predicted, probs.argmax(1)) and (summary.std == 0).all()
    binary = np.array([[[0.7, 0.3]], [[0.5, 0.5]]])
    thresholded = summarize_passes(binary, Decision(threshold=0.35))
    assert thresholded.predicted.tolist() == [1]
    assert thresholded.std[0] == pytest.approx(0.1)  # p1 over the passes: 0.3 and 0.5


@pytest.fixture(scope="module")
def run(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fast run with dropout (dense_dropout 0.2) and horizontal flips in its augmentation."""
    from api.conftest import make_fast_config

    from medclass.api import train

    out = tmp_path_factory.mktemp("uncertainty") / "run"
    train(make_fast_config(phantom_data, out, ["evaluation.report=false", "model.drop_rate=0.3"]))
    return out


@pytest.fixture(scope="module")
def images(phantom_data: Path) -> list[str]:
    return [str(p) for c in ("no_tumor", "tumor") for p in sorted((phantom_data / c).glob("*.png"))[:6]]


def test_tta_with_one_view_equals_plain_predict_exactly(run: Path, images: list[str]) -> None:
    plain = predict(run, images)
    tta = predict(run, images, tta=1)
    columns = [c for c in plain.columns if c.startswith("p_")] + ["confidence", "prediction", "path"]
    pd.testing.assert_frame_equal(tta[columns], plain[columns], check_exact=True)
    assert (tta["std"] == 0).all()


def test_tta_views_differ_and_do_not_depend_on_the_batch_size(run: Path, images: list[str]) -> None:
    model, meta = load_for_inference(run)
    plain = uncertain_inference(model, meta, images, tta=1)
    four = uncertain_inference(model, meta, images, tta=4, batch_size=64)
    assert four.passes == 4 and (four.std > 0).any()
    assert not np.allclose(four.probs, plain.probs)
    small_batches = uncertain_inference(model, meta, images, tta=4, batch_size=5)
    np.testing.assert_allclose(small_batches.probs, four.probs, rtol=1e-5, atol=1e-7)


def test_mc_dropout_predict_columns_and_flagging(run: Path, images: list[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG truncated")
    out = tmp_path / "pred.csv"
    table = predict(run, [*images, str(broken)], out=out, mc_dropout=5, flag_uncertain=0.3)
    assert table.attrs["dropout_layers"] >= 2  # dense dropout and the classifier's
    ok = table[table["error"] == ""]
    assert (ok["std"] > 0).any()
    assert (ok["uncertain"] == (ok["entropy"] > 0.3)).all()
    saved = pd.read_csv(out, keep_default_na=False)
    assert {"entropy", "std", "uncertain"} <= set(saved.columns)
    assert saved["error"].iloc[-1] != "" and saved["path"].iloc[-1] == str(broken)


def test_mc_dropout_without_dropout_is_refused(run: Path, images: list[str]) -> None:
    model, meta = load_for_inference(run)
    assert len(dropout_layers(model)) >= 2
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    # A Dropout(p=0) drops nothing: it is not counted as a dropout layer (a default ResNet-18 holds one).
    assert dropout_layers(model) == []
    # Passes through it would be identical (spread 0, plain entropy): an error, not a silent estimate.
    with pytest.raises(ConfigError, match=r"no dropout layer.*--set model.drop_rate=0.2"):
        uncertain_inference(model, meta, images, mc_dropout=5)
    with pytest.raises(ConfigError, match="no dropout layer"):
        uncertain_inference(model, meta, images, mc_dropout=3, tta=2)
    assert uncertain_inference(model, meta, images, tta=2).passes == 2  # TTA alone needs no dropout


def test_flag_alone_uses_the_plain_entropy_and_bad_values_are_refused(run: Path, images: list[str]) -> None:
    table = predict(run, images, flag_uncertain=0.0)
    probs = table[[c for c in table.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(table["entropy"], predictive_entropy(probs))
    assert "std" not in table.columns and table["uncertain"].tolist() == (table["entropy"] > 0.0).tolist()
    # A threshold between the entropies splits the rows: flagged exactly those above it, some but not all.
    cutoff = float(np.median(table["entropy"]))
    split = predict(run, images, flag_uncertain=cutoff)
    assert split["uncertain"].tolist() == (split["entropy"] > cutoff).tolist()
    assert 0 < split["uncertain"].sum() < len(split)
    with pytest.raises(ConfigError, match="--flag-uncertain -1"):
        predict(run, images, flag_uncertain=-1)
    with pytest.raises(ConfigError, match="pass counts must be >= 0"):
        predict(run, images, mc_dropout=-2)


def test_referral_evaluation_writes_the_curve(run: Path) -> None:
    result = referral_evaluation(run, passes=4, fractions=(0.1, 0.2))
    curve = pd.read_csv(run / "referral.csv")
    assert result["csv"] == str(run / "referral.csv") and len(curve) == result["n"]
    assert [p["fraction"] for p in result["points"]] == [0.0, 0.1, 0.2]
    n = result["n"]
    assert [p["n_referred"] for p in result["points"]] == [0, int(0.1 * n + 0.5), int(0.2 * n + 0.5)]
    for point in result["points"]:
        assert point["accuracy"] == pytest.approx(curve["accuracy"].iloc[point["n_referred"]])
        assert result["accuracy"][f"{point['fraction']:g}"] == point["accuracy"]
    # The accuracy at 0% is that of the MC-dropout mean prediction on the test split.
    model, meta = load_for_inference(run)
    paths, labels = labelled_files(run, meta, None, "test")
    mc = uncertain_inference(model, meta, paths, mc_dropout=4)
    truth = np.array([meta.classes.index(label) for label in labels])
    assert result["points"][0]["accuracy"] == pytest.approx((mc.predicted == truth).mean())
    with pytest.raises(ConfigError, match="at least 1 pass"):
        referral_evaluation(run, passes=0)
