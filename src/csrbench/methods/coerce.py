"""How a typed parameter field accepts a value: coercion, ranges, and the error.

Each field of a parameter class declares its type in its annotation (bool, int, float,
a Literal of choices, a list, a tuple, or a union of those with None) and its help and
range in its metadata (`doc`). `coerce` turns a value from a config or a dict into that
type (booleans from "true"/"off", numbers from YAML's `1e-3` strings) or raises a
`ParamError` that names the key, the value and what is accepted. Torch-free.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import fields
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

_BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


class ParamError(ValueError):
    """A method parameter that cannot be used: which key, which value, what is accepted."""

    def __init__(self, key: str, value: Any, accepted: str) -> None:
        self.key, self.value, self.accepted = key, value, accepted
        super().__init__(self.describe("parameter "))

    def describe(self, where: str) -> str:
        """The message with the key spelled as `where + key` (e.g. a dotted config path)."""
        return f"{where}{self.key} = {self.value!r} is not accepted; {self.accepted}"


def doc(
    help: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    by_modality: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A field's metadata: its help, its range and, for a field without a dataclass
    default, its default per modality (filled in by `build_params`)."""
    return {"help": help, "gt": gt, "ge": ge, "le": le, "by_modality": by_modality}


def coerce(cls: type, key: str, value: Any) -> Any:
    """`value` as the type of `cls.key` (bool-like strings become bools), range-checked."""
    f = {f.name: f for f in fields(cls)}[key]
    hint = type_hints(cls)[key]
    out = _coerce(value, hint)
    numeric = isinstance(out, (int, float)) and not isinstance(out, bool)
    if out is _REJECT or (numeric and not _in_range(out, f.metadata)):
        raise ParamError(key, value, f"expected {describe_type(hint, range_text(f.metadata))}")
    return out


_REJECT = object()


@cache
def type_hints(cls: type) -> dict[str, Any]:
    """The evaluated annotations of a parameter class (its fields' types)."""
    return typing.get_type_hints(cls)


def _coerce(value: Any, hint: Any) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        # literals first: "auto" must stay "auto", not fail as a bool
        for option in sorted(args, key=lambda a: get_origin(a) is not Literal):
            out = _coerce(value, option)
            if out is not _REJECT:
                return out
        return _REJECT
    if hint is type(None):
        return None if value is None else _REJECT
    if origin is Literal:
        return value if isinstance(value, str) and value in args else _REJECT
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.lower()]
        return _REJECT
    if hint is str:
        return value if isinstance(value, str) else _REJECT
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _REJECT
    if hint is float:
        if isinstance(value, bool):
            return _REJECT
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads `1e-3` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                return _REJECT
        return _REJECT
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return _REJECT
        items = [_coerce(v, args[0]) for v in value]
        return _REJECT if any(i is _REJECT for i in items) else items
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            return _REJECT
        items = [_coerce(v, a) for v, a in zip(value, args, strict=True)]
        return _REJECT if any(i is _REJECT for i in items) else tuple(items)
    raise TypeError(f"no coercion for parameter type {hint!r}")  # pragma: no cover


def describe_type(hint: Any, bounds: str = "") -> str:
    """How a type (numbers: with their `bounds`) reads in an error and in the table."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a, bounds) for a in args)
    if hint is type(None):
        return "null"
    if origin is Literal:
        return args[0] if len(args) == 1 else "one of: " + ", ".join(args)
    if origin is list:
        return f"a list of {describe_type(args[0])}s"
    if origin is tuple:
        return f"a list of {len(args)} {describe_type(args[0])}s"
    if hint in (int, float):
        return ("integer" if hint is int else "number") + bounds
    return {bool: "true/false", str: "string"}[hint]


def _in_range(v: float, meta: Mapping[str, Any]) -> bool:
    if not math.isfinite(v):
        return False
    gt, ge, le = meta.get("gt"), meta.get("ge"), meta.get("le")
    return (gt is None or v > gt) and (ge is None or v >= ge) and (le is None or v <= le)


def range_text(meta: Mapping[str, Any]) -> str:
    """` > 0 and <= 1`: a field's bounds as they read after its type."""
    ops = {"gt": ">", "ge": ">=", "le": "<="}
    parts = [f"{op} {meta[key]:g}" for key, op in ops.items() if meta.get(key) is not None]
    return f" {' and '.join(parts)}" if parts else ""


def unknown_key_hint(method: str, key: str, known: list[str]) -> str:
    """What is accepted instead of an unknown key: the closest known key, then all."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown parameter for {method}{guess}; accepted: {', '.join(known)}"
