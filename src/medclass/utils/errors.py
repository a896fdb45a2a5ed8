"""Exceptions that the CLI turns into a clear one-paragraph message instead of a traceback."""


class MedclassError(Exception):
    """Base class: a user-facing problem (bad input, missing file, refused action)."""


class ConfigError(MedclassError):
    """A config key or value is invalid; the message names the key, the value and what is allowed."""


class DataError(MedclassError):
    """The data cannot be used: missing folder, one class only, no readable image, bad CSV."""


class RunDirError(MedclassError):
    """The run directory exists (and neither --overwrite nor --resume was given) or is incomplete."""


class WeightsError(MedclassError):
    """Pretrained or given weights are missing or do not fit the model."""


class BundleError(WeightsError):
    """An exported bundle's files disagree: its model file is not the one its ``medclass.json`` describes."""
