"""The validation split: carved from a dataset's training split, never from its test split.

Every setting that is chosen (temperature, init, learning rate, grid values) is chosen on
this split, so the test split is read once, by the final evaluation. The carve works on
any loader's training split before embedding (so it costs no extra embedding), and keeps
together what must not straddle the boundary:

- rows joined by relevance (a query and its documents; an image and its captions) form
  one unit, found as connected components of the relevance graph;
- rows that a loader puts in the same `Field.groups` (pycode: functions of one module)
  join one unit, so near-duplicate code of a module cannot leak from fit to validation;
- units are drawn per class where the rows have labels (stratified), so validation has
  the class balance of training.

Within each stratum the units are shuffled with a seeded generator and taken in order
while each brings the stratum's validation rows nearer its share (`fraction` of its rows,
plus what earlier strata could not take), so a module larger than the share stays in
training rather than overshooting, the total stays near `fraction`, and the carve is
identical on every machine and every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from csrbench.data.base import DataError, Field, Relevance, Split

VALIDATION = "val"
FIT = "train"


@dataclass(frozen=True)
class ValidationSpec:
    """How much of the training split becomes validation, and the seed of the draw."""

    fraction: float = 0.15
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.fraction, bool) or not 0 < float(self.fraction) < 1:
            raise DataError(f"validation.fraction must be in (0, 1), got {self.fraction!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise DataError(f"validation.seed must be an integer >= 0, got {self.seed!r}")


def _field_offsets(split: Split) -> dict[str, int]:
    offsets, total = {}, 0
    for name, fld in split.fields.items():
        offsets[name] = total
        total += len(fld.ids)
    return offsets


def units(split: Split) -> np.ndarray:
    """Unit id per row of every field (fields concatenated in order): rows that must stay
    on one side of the carve share a unit."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    offsets = _field_offsets(split)
    n = sum(len(f.ids) for f in split.fields.values())
    rows, cols = [np.arange(n)], [np.arange(n)]
    rel = split.relevance
    if rel is not None and len(rel.pairs):
        rows.append(rel.pairs[:, 0] + offsets[rel.source])
        cols.append(rel.pairs[:, 1] + offsets[rel.target])
    for name, fld in split.fields.items():
        if fld.groups is None:
            continue
        _, first, inverse = np.unique(fld.groups, return_index=True, return_inverse=True)
        rows.append(np.arange(len(inverse)) + offsets[name])
        cols.append(first[inverse] + offsets[name])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _unit_strata(split: Split, unit: np.ndarray) -> np.ndarray:
    """A class per unit: the label of its first labelled row (-1 where none is labelled)."""
    label = np.full(unit.max() + 1, -1, dtype=np.int64)
    offsets = _field_offsets(split)
    for name in reversed(list(split.fields)):  # first field's labels win
        fld = split.fields[name]
        if fld.labels is None:
            continue
        rows = np.arange(len(fld.ids)) + offsets[name]
        label[unit[rows][::-1]] = np.asarray(fld.labels, dtype=np.int64)[::-1]
    return label


def _fill(sizes: np.ndarray, target: float) -> np.ndarray:
    """Which of `sizes` (units in their drawn order) to take so the taken rows come closest
    to `target`: the prefix that fits, then any later unit that brings the total nearer.

    A unit that would overshoot by more than it fills is skipped rather than taken, so one
    large module cannot turn a 15% carve into a 50% one."""
    taken = np.zeros(len(sizes), dtype=bool)
    fits = int(np.searchsorted(np.cumsum(sizes), target, side="right"))
    taken[:fits] = True
    deficit = target - float(sizes[:fits].sum())
    for i in range(fits, len(sizes)):
        if deficit <= 0.5:  # no unit (>= 1 row) can bring the total nearer
            break
        if sizes[i] < 2 * deficit:
            taken[i] = True
            deficit -= float(sizes[i])
    return taken


def carve_units(split: Split, spec: ValidationSpec) -> np.ndarray:
    """Boolean per row: True where the row's unit goes to validation."""
    unit = units(split)
    size = np.bincount(unit)
    strata = _unit_strata(split, unit)
    rng = np.random.default_rng(spec.seed)
    to_val = np.zeros(len(size), dtype=bool)
    seen = taken = 0
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        members = members[rng.permutation(len(members))]
        seen += int(size[members].sum())
        # the share of every stratum so far, less what was taken: a stratum whose units are
        # all too large to carve passes its share on, so the total stays near `fraction`
        pick = members[_fill(size[members], spec.fraction * seen - taken)]
        to_val[pick] = True
        taken += int(size[pick].sum())
    return to_val[unit]


def subset_field(fld: Field, rows: np.ndarray) -> Field:
    """The field's rows `rows` (in order); items stay lazy where they were (paths)."""
    items = fld.items
    picked = items[rows] if isinstance(items, np.ndarray) else [items[i] for i in rows.tolist()]
    labels = None if fld.labels is None else np.asarray(fld.labels)[rows]
    groups = None if fld.groups is None else np.asarray(fld.groups)[rows]
    return Field(fld.name, fld.kind, picked, np.asarray(fld.ids)[rows], labels, groups)


def _side(split: Split, in_val: np.ndarray, want: bool, name: str, info: dict[str, Any]) -> Split:
    offsets = _field_offsets(split)
    fields, remap = {}, {}
    for fname, fld in split.fields.items():
        mask = in_val[offsets[fname] : offsets[fname] + len(fld.ids)] == want
        rows = np.flatnonzero(mask)
        fields[fname] = subset_field(fld, rows)
        new = np.full(len(fld.ids), -1, dtype=np.int64)
        new[rows] = np.arange(len(rows))
        remap[fname] = new
    relevance = None
    if split.relevance is not None:
        rel = split.relevance
        src, tgt = remap[rel.source][rel.pairs[:, 0]], remap[rel.target][rel.pairs[:, 1]]
        keep = (src >= 0) & (tgt >= 0)
        pairs = np.stack([src[keep], tgt[keep], rel.pairs[keep, 2]], axis=1)
        relevance = Relevance(rel.source, rel.target, pairs.astype(np.int64))
    prov = {**split.provenance, "validation": {**info, "side": name}}
    return Split(split.dataset, name, fields, relevance, prov)


def carve(split: Split, spec: ValidationSpec) -> dict[str, Split]:
    """{"train": the rows fitting reads, "val": the rows tuning reads} of a training split."""
    in_val = carve_units(split, spec)
    if in_val.all() or not in_val.any():
        raise DataError(
            f"{split.dataset}: a validation fraction of {spec.fraction} leaves one side of the "
            f"{split.split!r} split empty ({len(in_val)} rows); change validation.fraction"
        )
    offsets = _field_offsets(split)
    counts = {
        side: {
            f: int(np.sum(in_val[offsets[f] : offsets[f] + len(fld.ids)] == want))
            for f, fld in split.fields.items()
        }
        for side, want in ((FIT, False), (VALIDATION, True))
    }
    info = {
        "carved_from": split.split,
        "fraction": spec.fraction,
        "seed": spec.seed,
        "stratified": any(f.labels is not None for f in split.fields.values()),
        "grouped_by": sorted(
            [f"groups:{n}" for n, f in split.fields.items() if f.groups is not None]
            + ([f"relevance:{rel.source}-{rel.target}"] if (rel := split.relevance) else [])
        ),
        "rows": counts,
    }
    return {
        FIT: _side(split, in_val, False, FIT, info),
        VALIDATION: _side(split, in_val, True, VALIDATION, info),
    }
