"""Dataset loaders, registered by name.

The registry maps a loader name (the `loader:` key of a dataset in the config) to
the module that implements it, as a string, so the workflow can validate names
without importing torch or any heavy dependency.
"""

from __future__ import annotations

import importlib
from typing import Any

from csrbench.data.base import DataError, Field, Relevance, Split

LOADERS: dict[str, str] = {
    "digits": "csrbench.data.digits",
    "pycode": "csrbench.data.pycode",
    "imagefolder": "csrbench.data.imagefolder",
    "captions": "csrbench.data.captions",
    "mteb": "csrbench.data.mteb_task",
    "precomputed": "csrbench.data.precomputed",
}


def load_split(loader: str, split: str, params: dict[str, Any], name: str | None = None) -> Split:
    """Load one split with the named loader; each loader module defines `load(split, **params)`.

    `name` is the dataset's key in the config: errors then say
    `datasets.<name>.params.<key>`, which is where the user has to look.
    """
    if loader not in LOADERS:
        raise DataError(f"unknown dataset loader {loader!r}; choose one of {sorted(LOADERS)}")
    module = importlib.import_module(LOADERS[loader])
    return module.load(split, name=name, **params)


__all__ = ["LOADERS", "DataError", "Field", "Relevance", "Split", "load_split"]
