"""Class names as coded concepts: from an optional ``codes.yaml`` next to the model, else a local scheme.

``codes.yaml`` maps each class name to a code of a real terminology, e.g.::

    yes: {value: "126952004", scheme: SCT, meaning: "Neoplasm of brain"}
    no: {value: "260413007", scheme: SCT, meaning: "None"}

A class it does not name gets the local coding scheme :data:`LOCAL_SCHEME` (value: the class name), which a
viewer shows as text and which a site can map later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from highdicom.sr import CodedConcept

from medclass.config.loader import read_yaml
from medclass.utils.errors import ConfigError

LOCAL_SCHEME = "99MEDCLASS"  # "99" prefix: a private coding scheme (DICOM PS3.16, 8.2)
CODES_FILE = "codes.yaml"


def local_code(value: str, meaning: str) -> CodedConcept:
    """A concept of the local scheme (values longer than 16 characters go to Long Code Value: highdicom)."""
    return CodedConcept(value=value, scheme_designator=LOCAL_SCHEME, meaning=meaning[:64])


def read_codes(path: str | Path | None, classes: Sequence[str]) -> dict[str, CodedConcept]:
    """The concept of each class: from ``path`` (a ``codes.yaml``) where it names the class, else local.

    Raises:
        ConfigError: the file is missing, not a mapping of class -> {value, scheme, meaning}, or names an unknown class.
    """
    given: Mapping = read_yaml(path) if path is not None else {}
    # YAML 1.1 reads some names as other types (yes/no/on -> bool, 1 -> int): look each class up by the key
    # its own name would load as
    key_of = {name: yaml.safe_load(name) if name.strip() else name for name in classes}
    key_of = {name: key if isinstance(key, bool | int | float) else name for name, key in key_of.items()}
    unknown = sorted(str(k) for k in given if k not in key_of.values())
    if unknown:
        raise ConfigError(
            f"{path}: class(es) {', '.join(unknown)} are not classes of the model {list(classes)}"
        )
    codes = {}
    for name in classes:
        entry = given.get(key_of[name])
        if entry is None:
            codes[name] = local_code(name, name)
            continue
        if not isinstance(entry, Mapping) or not {"value", "scheme", "meaning"} <= set(entry):
            raise ConfigError(f"{path}: '{name}' needs value, scheme and meaning, got {entry!r:.80}")
        codes[name] = CodedConcept(str(entry["value"]), str(entry["scheme"]), str(entry["meaning"]))
    return codes
