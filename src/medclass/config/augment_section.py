"""The ``augment`` section of a run config: the presets and the per-op training augmentations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from medclass.config.section import Section


class SharpnessAug(Section):
    factor: Annotated[float, Field(ge=0)] = 1.2
    p: Annotated[float, Field(ge=0, le=1)] = 0.2


class BlurAug(Section):
    kernel: Annotated[int, Field(ge=3)] = 5
    sigma: tuple[float, float] = (0.1, 1.5)
    p: Annotated[float, Field(ge=0, le=1)] = 0.2


class RandomResizedCropAug(Section):
    scale: tuple[float, float] = (0.8, 1.0)
    ratio: tuple[float, float] = (0.9, 1.1)


AUGMENT_PRESETS: dict[str, dict[str, Any]] = {
    "none": {},
    "light": {"hflip": 0.5, "rotation": 10.0},
    "standard": {
        "hflip": 0.5,
        "rotation": 15.0,
        "translate": 0.05,
        "scale": (0.9, 1.1),
        "brightness": 0.1,
        "contrast": 0.1,
    },
    "strong": {
        "hflip": 0.5,
        "rotation": 20.0,
        "translate": 0.1,
        "scale": (0.85, 1.15),
        "brightness": 0.2,
        "contrast": 0.2,
        "random_resized_crop": {"scale": (0.75, 1.0)},
        "blur": {"p": 0.2},
        "noise_std": 0.02,
    },
}


class AugmentConfig(Section):
    """Training augmentation: a preset, then per-op settings that override it. Eval is never augmented.

    The preset only fills the ops the YAML leaves out, so the saved (resolved) config shows what ran.
    """

    preset: Literal["none", "light", "standard", "strong"] = "standard"
    hflip: Annotated[float, Field(ge=0, le=1)] = Field(0.0, description="Probability.")
    vflip: Annotated[float, Field(ge=0, le=1)] = Field(0.0, description="Probability.")
    rotation: Annotated[float, Field(ge=0, le=180)] = Field(0.0, description="Max degrees.")
    translate: Annotated[float, Field(ge=0, lt=1)] = Field(0.0, description="Max shift, fraction of size.")
    scale: tuple[float, float] | None = Field(None, description="Random zoom range, e.g. [0.9, 1.1].")
    random_resized_crop: RandomResizedCropAug | None = None
    brightness: Annotated[float, Field(ge=0)] = 0.0
    contrast: Annotated[float, Field(ge=0)] = 0.0
    sharpness: SharpnessAug | None = None
    noise_std: Annotated[float, Field(ge=0)] = Field(0.0, description="Gaussian noise std on the 0-1 scale.")
    blur: BlurAug | None = None
    # After the geometric ops: TrivialAugmentWide (one random op per image) or RandAugment (two), from v2.
    # MixUp and CutMix mix a batch's images and labels; with both on, each batch takes one of the two.
    auto: Literal["none", "trivialaugment", "randaugment"] = Field("none", description="Automatic policy.")
    mixup: Annotated[float, Field(ge=0)] = Field(0.0, description="MixUp alpha (0: off), per batch.")
    cutmix: Annotated[float, Field(ge=0)] = Field(0.0, description="CutMix alpha (0: off), per batch.")

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        preset = values.get("preset", "standard")
        merged = dict(AUGMENT_PRESETS.get(preset, {}))
        merged.update(values)
        return merged
