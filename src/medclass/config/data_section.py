"""The ``data`` and ``split`` sections of a run config: where the images are, how they are decoded and
cached, and how they are divided into train/val/test."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from medclass.config.section import Section

# Image formats the readers understand (lower-case, with the dot).
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".tif",
    ".tiff",
    ".dcm",
    ".dicom",
    ".nii",
    ".nii.gz",
)


class DataConfig(Section):
    """Where the images are and how they are decoded, cached and batched."""

    path: str | None = Field(
        None, description="Folder (any supported layout), CSV manifest or MedMNIST .npz."
    )
    test_path: str | None = Field(
        None, description="A separate labelled test set (any layout): all of it is the test split."
    )
    channels: Literal[1, 3] = Field(1, description="Channels fed to the model (grayscale or RGB).")
    image_size: Annotated[int, Field(ge=8, le=2048)] = 128
    resize: Literal["stretch", "letterbox"] = Field(
        "stretch", description="stretch: squash to a square; letterbox: keep aspect ratio, pad with black."
    )
    slice_index: int | None = Field(None, description="NIfTI slice (last axis); default the middle one.")
    window: tuple[float, Annotated[float, Field(ge=1)]] | None = Field(
        None,
        description="[center, width] for DICOM/NIfTI values (CT: HU), e.g. [40, 400]; default the file's.",
    )
    crop_foreground: bool = Field(False, description="Crop to the largest bright component before resizing.")
    crop_threshold: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.1, description="Foreground threshold as a fraction of the image's intensity range."
    )
    cache_dir: str | None = Field(None, description="Preprocessed-array cache (default ~/.cache/medclass).")
    min_images_per_class: Annotated[int, Field(ge=1)] = Field(
        5, description="Fewest readable images a class may have (fewer: an error, usually a label typo)."
    )
    batch_size: Annotated[int, Field(ge=1)] = 32
    num_workers: int | Literal["auto"] = "auto"
    sampler: Literal["none", "weighted"] = Field(
        "none", description="weighted: oversample with inverse class frequency (WeightedRandomSampler)."
    )
    epoch_size: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Samples drawn per epoch by the weighted sampler (default: training-set size)."
    )
    labels: list[str] | None = Field(
        None,
        description="Multi-label: the label names (--label-columns a,b,c): the 0/1 columns of a CSV manifest, the "
        "allowed names of its 'labels' column, or the names of an npz's (N, K) label columns.",
    )
    uncertain_labels: Literal["ignore", "zeros", "ones"] = Field(
        "ignore",
        description="Multi-label: an uncertain label (-1): ignore (left out of the loss and metrics), zeros, ones.",
    )
    normalize: Literal["auto", "dataset", "imagenet", "none"] = Field(
        "auto",
        description="auto: the pretrained weights' mean/std when weights are loaded, else dataset (per-channel "
        "mean/std of the training split).",
    )


# split.val_frac when not set: a share of all images for random splits; a share of train (so more images
# train) when the data set brings its own test split and only val is carved out of train.
DEFAULT_VAL_FRAC = 0.15
DEFAULT_VAL_FRAC_OF_TRAIN = 0.10


class SplitConfig(Section):
    """How images are divided into train/val/test (see ``medclass split``)."""

    strategy: Literal["auto", "stratified", "sorted-id", "kfold", "group", "predefined"] = Field(
        "auto", description="auto: the layout's own splits when it has them, else stratified."
    )
    val_frac: Annotated[float, Field(ge=0, lt=1)] | None = Field(
        None,
        description="Validation share (default: 0.15 of all images; 0.10 of train when the data set brings its "
        "own test split or --test-data is given).",
    )
    test_frac: Annotated[float, Field(ge=0, lt=1)] = 0.15
    seed: Annotated[int, Field(ge=0)] | None = Field(
        None, description="Split seed (default: the run's seed)."
    )
    folds: Annotated[int, Field(ge=2)] = 5
    fold: Annotated[int, Field(ge=0)] = Field(0, description="Validation fold for kfold splits.")
    group_regex: str | None = Field(
        None, description="Regex on the file name; group 1 (or the whole match) is the patient/group id."
    )
    allow_duplicate_leakage: bool = Field(
        False, description="Allow exact/near duplicates to land in different splits."
    )
    near_dup_distance: Annotated[int, Field(ge=0, le=64)] | None = Field(
        None, description="Perceptual-hash Hamming distance for near duplicates (default in data.duplicates)."
    )
    splits_file: str | None = Field(None, description="Use an existing splits.csv instead of splitting.")

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitConfig:
        val_frac = DEFAULT_VAL_FRAC if self.val_frac is None else self.val_frac
        if val_frac + self.test_frac >= 1:
            given = "" if self.val_frac is not None else f" (split.val_frac not set: {DEFAULT_VAL_FRAC:g})"
            raise ValueError(
                f"split.val_frac + split.test_frac = {val_frac + self.test_frac:g}: must be < 1{given}"
            )
        if self.fold >= self.folds:
            raise ValueError(f"split.fold = {self.fold}: must be < split.folds = {self.folds}")
        return self
