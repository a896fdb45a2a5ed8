"""Predictor: files to decisions for multi-class and one-logit models, temperature, threshold, MC dropout, TTA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_image
from scipy.special import expit, softmax
from torch import nn

from medclass.inference.decision import Decision
from medclass.inference.runner import Predictor
from medclass.inference.spec import ModelSpec
from medclass.utils.errors import ConfigError

SIZE = 16


def _net(outputs: int, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(16, outputs),
    )


def _meta(classes: list[str], temperature: float = 1.0, threshold: float | None = None) -> ModelSpec:
    return ModelSpec(
        model={},
        classes=classes,
        preprocess={"settings": {"image_size": SIZE, "channels": 1}, "mean": [0.5], "std": [0.25]},
        decision=Decision(temperature=temperature, threshold=threshold),
    )


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    paths = [str(write_image(tmp_path / f"img{i}.png", size=(20, 24), seed=i)) for i in range(6)]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not an image")
    return [*paths[:3], str(broken), *paths[3:]]


def _raw_logits(model: nn.Module, predictor: Predictor, files: list[str]) -> np.ndarray:
    from medclass.inference.inputs import load_images

    images = load_images(files, predictor.meta)
    with torch.no_grad():
        return model.eval()(images.tensor(range(len(images.rows)), predictor.meta)).numpy()


def test_multiclass_files_in_order_with_failures_and_temperature(files: list[str]) -> None:
    model = _net(3)
    predictor = Predictor(model, _meta(["a", "b", "c"], temperature=2.0))
    result = predictor.predict_files(files, batch_size=4)
    readable = [f for f in files if "broken" not in f]
    assert result.paths == readable and list(result.failures) == [files[3]]
    raw = _raw_logits(model, predictor, readable)
    np.testing.assert_allclose(result.logits, raw, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(result.probs, softmax(raw / 2.0, axis=1), rtol=1e-5)
    assert result.predicted.tolist() == raw.argmax(axis=1).tolist()
    table = result.table(predictor.classes)
    assert list(table.columns) == ["path", "prediction", "confidence", "p_a", "p_b", "p_c"]
    np.testing.assert_allclose(table["confidence"], result.probs.max(axis=1))


def test_one_logit_binary_model_uses_sigmoid_and_the_threshold(files: list[str]) -> None:
    model = _net(1)
    predictor = Predictor(model, _meta(["no", "yes"]))
    plain = predictor.predict_files(files)
    raw = _raw_logits(model, predictor, plain.paths)
    np.testing.assert_allclose(plain.probs[:, 1], expit(raw[:, 0]), rtol=1e-5)
    cut = float(np.median(plain.probs[:, 1]))
    thresholded = Predictor(model, _meta(["no", "yes"], threshold=cut)).predict_files(files)
    assert thresholded.predicted.tolist() == (plain.probs[:, 1] >= cut).astype(int).tolist()
    assert 0 < thresholded.predicted.sum() < len(plain.paths)  # the threshold, not the argmax, decided


def test_mc_dropout_spreads_only_with_real_dropout_and_is_seeded(files: list[str]) -> None:
    dropped = Predictor(_net(3, dropout=0.5), _meta(["a", "b", "c"]))
    first = dropped.predict_files(files, mc_dropout=5, seed=3)
    assert first.passes == 5 and first.dropout_layers == 1 and (first.std > 0).any()
    np.testing.assert_array_equal(first.probs, dropped.predict_files(files, mc_dropout=5, seed=3).probs)
    assert not dropped.model.training  # modes restored
    # Without a dropout layer every pass would be the same: refused, with the setting that adds one.
    with pytest.raises(ConfigError, match=r"no dropout layer.*--set model.drop_rate=0.2"):
        Predictor(_net(3, dropout=0.0), _meta(["a", "b", "c"])).predict_files(files, mc_dropout=5)


def test_tta_one_view_equals_plain_and_more_views_differ(files: list[str]) -> None:
    predictor = Predictor(_net(3), _meta(["a", "b", "c"]))
    plain = predictor.predict_files(files)
    one = predictor.predict_files(files, tta=1)
    np.testing.assert_array_equal(one.probs, plain.probs)
    four = predictor.predict_files(files, tta=4, batch_size=2)
    assert four.passes == 4 and not np.allclose(four.probs, plain.probs)
    np.testing.assert_allclose(
        predictor.predict_files(files, tta=4, batch_size=5).probs, four.probs, atol=1e-6
    )
    with pytest.raises(ConfigError, match="pass counts must be >= 0"):
        predictor.predict_files(files, tta=-1)


def test_labelled_prediction_aligns_true_labels_with_readable_files(files: list[str]) -> None:
    predictor = Predictor(_net(2), _meta(["no", "yes"]))
    labels = ["yes" if i % 2 else "no" for i in range(len(files))]
    result, y_true = predictor.predict_labelled(files, labels)
    expected = [1 if i % 2 else 0 for i, f in enumerate(files) if "broken" not in f]
    assert y_true.tolist() == expected and len(result.paths) == len(expected)
