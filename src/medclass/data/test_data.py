"""A separate labelled test set (``--test-data DIR``) joined to the training data as its test split.

The training data keeps its own train/val splits when it has them; with a separate test set it must not have
a test split of its own. Every image of the test set (whatever its layout and own splits) becomes ``test``,
and the splitter then carves only val out of train (``predefined``, ``split.val_frac`` default 0.10), so all the
other images train.
"""

from __future__ import annotations

import dataclasses

from medclass.config.schema import Config
from medclass.data.discovery import DataIndex, discover
from medclass.data.multilabel import LabelOptions
from medclass.utils.errors import ConfigError, DataError


def discover_run_data(config: Config) -> DataIndex | None:
    """The data of a run: ``data.path`` discovered, with ``data.test_path`` (if set) as its test split.

    Raises:
        DataError: see :func:`with_test_data`; ConfigError: a test set without training images.
    """
    if not config.data.path:
        if config.data.test_path:
            raise ConfigError("data.test_path / --test-data needs data.path / --data (the training images)")
        return None
    options = label_options(config)
    index = discover(config.data.path, options)
    if not config.data.test_path:
        return index
    check_test_data_strategy(config)
    return with_test_data(index, discover(config.data.test_path, options))


def label_options(config: Config) -> LabelOptions:
    """The multi-label options of a run (``data.labels``, ``data.uncertain_labels``)."""
    return LabelOptions.of(config.data.labels, config.data.uncertain_labels)


def check_test_data_strategy(config: Config) -> None:
    """Refuse a split strategy that would re-split the data when a separate test set is given.

    Raises:
        ConfigError: naming the strategy and what is allowed.
    """
    if config.data.test_path and config.split.strategy not in ("auto", "predefined"):
        raise ConfigError(
            f"split.strategy = {config.split.strategy!r} cannot be used with --test-data {config.data.test_path}: "
            "the test set is given, so only val is carved out of train (strategy auto or predefined)"
        )


def with_test_data(index: DataIndex, test: DataIndex) -> DataIndex:
    """``index`` with every sample of ``test`` as its test split (samples without a split become train).

    Raises:
        DataError: ``index`` already has a test split, ``test`` holds a class ``index`` lacks, or an image
            is in both.
    """
    source, test_source = index.source or index.root, test.source or test.root
    if any(s.split == "test" for s in index.samples):
        raise DataError(
            f"{source}: has a test split of its own; --test-data {test_source} would be a second one "
            "(give --data the training images only)"
        )
    unknown = sorted(set(test.classes) - set(index.classes))
    if unknown:
        raise DataError(
            f"{test_source}: test classes {unknown} are not among the training classes {index.classes}"
        )
    train_paths = {s.path for s in index.samples}
    shared = [s.path for s in test.samples if s.path in train_paths]
    if shared:
        raise DataError(
            f"{test_source}: {len(shared)} image(s) are also in --data {source} (e.g. {shared[0]}); "
            "the test images must be kept apart"
        )
    samples = [dataclasses.replace(s, split=s.split or "train") for s in index.samples]
    samples += [dataclasses.replace(s, split="test") for s in test.samples]
    return dataclasses.replace(index, samples=samples, ignored=[*index.ignored, *test.ignored])
