"""Dataset loaders, registered by name.

The registry maps a loader name (the `loader:` key of a dataset in the config) to
the module that implements it, as a string, so the workflow can validate names
without importing torch or any heavy dependency.
"""

from __future__ import annotations

import importlib
from typing import Any

from csrbench.data.base import DataError, Field, Relevance, Split
from csrbench.data.validation import FIT, VALIDATION, ValidationSpec, carve

LOADERS: dict[str, str] = {
    "digits": "csrbench.data.digits",
    "pycode": "csrbench.data.pycode",
    "imagefolder": "csrbench.data.imagefolder",
    "captions": "csrbench.data.captions",
    "mteb": "csrbench.data.mteb_task",
    "precomputed": "csrbench.data.precomputed",
}


def load_split(
    loader: str,
    split: str,
    params: dict[str, Any],
    name: str | None = None,
    validation: ValidationSpec | None = None,
) -> Split:
    """Load one split with the named loader; each loader module defines `load(split, **params)`.

    With `validation`, the loader's `train` split is carved in two: `train` (what fitting
    reads) and `val` (what every tuning choice reads); other splits pass through. `name`
    is the dataset's key in the config: errors then say `datasets.<name>.params.<key>`,
    which is where the user has to look.
    """
    if loader not in LOADERS:
        raise DataError(f"unknown dataset loader {loader!r}; choose one of {sorted(LOADERS)}")
    module = importlib.import_module(LOADERS[loader])
    if validation is None or split not in (FIT, VALIDATION):
        return module.load(split, name=name, **params)
    return carve(module.load(FIT, name=name, **params), validation)[split]


__all__ = [
    "FIT",
    "LOADERS",
    "VALIDATION",
    "DataError",
    "Field",
    "Relevance",
    "Split",
    "ValidationSpec",
    "load_split",
]
