"""Progressive resizing (issue 26): the schedule of training-image sizes, the sizes the model really sees in a
run (small early, full late, full in validation), and the refusals of settings that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from medclass.training.resizing import SIZE_STEP, epoch_image_size, resize_batch
from medclass.utils.errors import ConfigError
from tests.api.conftest import make_fast_config

QUIET = ["evaluation.report=false", "evaluation.bootstrap=0"]


def test_the_side_grows_from_the_start_size_to_the_full_size_at_the_given_fraction() -> None:
    sizes = [epoch_image_size(epoch, 8, 64, 128, 0.5) for epoch in range(8)]
    assert sizes[0] == 64
    assert sizes[4:] == [128] * 4  # full size from half the epochs on
    assert 64 < sizes[2] < 128


@given(
    epochs=st.integers(1, 60),
    start=st.integers(16, 500),
    extra=st.integers(1, 500),
    fraction=st.floats(0.01, 1.0),
)
def test_the_schedule_never_shrinks_never_exceeds_the_full_size_and_ends_at_it(
    epochs: int, start: int, extra: int, fraction: float
) -> None:
    full = start + extra
    sizes = [epoch_image_size(epoch, epochs, start, full, fraction) for epoch in range(epochs)]
    assert sizes == sorted(sizes)
    assert all(SIZE_STEP <= side <= full for side in sizes)
    assert sizes[-1] == full  # the model ends on the size it is validated and used at
    assert all(side == full or side % SIZE_STEP == 0 for side in sizes)


def test_resize_batch_scales_only_the_spatial_sides() -> None:
    images = torch.rand(3, 1, 64, 64)
    assert resize_batch(images, 32).shape == (3, 1, 32, 32)
    assert resize_batch(images, 64) is images


def _training_and_validation_sides(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple[int, int]]]:
    """(epoch, side) of every batch the model gets in training and in validation."""
    from medclass.training.module import LitClassifier

    seen: dict[str, list[tuple[int, int]]] = {"train": [], "val": []}
    real = LitClassifier.forward

    def recording(self, images):  # the signature of LitClassifier.forward
        phase = "train" if self.training else "val"
        seen[phase].append((self.current_epoch, int(images.shape[-1])))
        return real(self, images)

    monkeypatch.setattr(LitClassifier, "forward", recording)
    return seen


def test_a_run_trains_small_first_and_validates_at_full_size(
    phantom_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medclass.api import train

    seen = _training_and_validation_sides(monkeypatch)
    overrides = [*QUIET, "data.image_size=48", "trainer.progressive_resizing.start_size=16"]
    train(make_fast_config(phantom_data, tmp_path / "run", overrides))
    by_epoch = {epoch: {side for e, side in seen["train"] if e == epoch} for epoch in range(3)}
    assert by_epoch == {0: {16}, 1: {32}, 2: {48}}
    assert {side for _, side in seen["val"]} == {48}


def test_a_start_size_not_below_the_image_size_is_refused(phantom_data: Path, tmp_path: Path) -> None:
    from medclass.api import train

    overrides = [*QUIET, "trainer.progressive_resizing.start_size=32"]  # the fast config trains at 32 px
    with pytest.raises(ConfigError, match=r"trainer\.progressive_resizing\.start_size: 32 px is not below"):
        train(make_fast_config(phantom_data, tmp_path / "run", overrides))
    assert not (tmp_path / "run").exists()  # a failed start leaves nothing behind


def test_a_model_that_needs_one_input_size_is_refused(phantom_data: Path, tmp_path: Path) -> None:
    from medclass.api import train

    overrides = [*QUIET, "model.cnn.head=flatten", "trainer.progressive_resizing.start_size=16"]
    with pytest.raises(ConfigError, match=r"does not take 16 px inputs.*leave it off"):
        train(make_fast_config(phantom_data, tmp_path / "run", overrides))
