"""The validation carve: disjoint, complete, stratified, grouped, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from csrbench.data import DataError, Field, Relevance, Split, ValidationSpec, load_split
from csrbench.data.validation import _fill, carve


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.array([f"{prefix}{i}" for i in range(n)])


def _labelled(n: int = 600) -> Split:
    labels = np.arange(n) % 3  # classes of 200 each
    labels[: n // 2] = 0  # ... made unbalanced: class 0 holds more than half
    img = Field("image", "vector", np.zeros((n, 2)), _ids("x", n), labels)
    return Split("toy", "train", {"image": img})


def test_carve_is_a_disjoint_stratified_partition():
    split = _labelled()
    parts = carve(split, ValidationSpec(0.2, seed=1))
    fit, val = parts["train"].fields["image"], parts["val"].fields["image"]
    assert set(fit.ids) | set(val.ids) == set(split.fields["image"].ids)
    assert not set(fit.ids) & set(val.ids)
    labels = split.fields["image"].labels
    for c in np.unique(labels):
        assert np.sum(val.labels == c) == round(0.2 * np.sum(labels == c))
    info = parts["val"].provenance["validation"]
    assert info["stratified"] and info["rows"]["val"]["image"] == len(val.ids)
    assert parts["val"].split == "val" and parts["train"].split == "train"


def test_carve_is_deterministic_per_seed():
    split = _labelled()
    a = carve(split, ValidationSpec(0.2, seed=1))["val"].fields["image"].ids
    b = carve(split, ValidationSpec(0.2, seed=1))["val"].fields["image"].ids
    c = carve(split, ValidationSpec(0.2, seed=2))["val"].fields["image"].ids
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()


def _pairs(n: int = 300, modules: int = 40) -> Split:
    rng = np.random.default_rng(0)
    groups = np.array([f"mod{m}.py" for m in rng.integers(0, modules, n)])
    labels = np.array([int(g[3:-3]) % 4 for g in groups])
    ids = _ids("f", n)
    query = Field("query", "text", [f"q{i}" for i in range(n)], ids, labels, groups)
    doc = Field("doc", "text", [f"d{i}" for i in range(n)], ids.copy(), labels, groups)
    perm = rng.permutation(n)  # docs stored in another order than their queries
    doc = Field("doc", "text", [doc.items[i] for i in perm], ids[perm], labels[perm], groups[perm])
    inv = np.argsort(perm)
    pairs = np.stack([np.arange(n), inv, np.ones(n, np.int64)], 1)
    return Split("code", "train", {"query": query, "doc": doc}, Relevance("query", "doc", pairs))


def test_groups_never_straddle_and_pairs_follow_their_rows():
    split = _pairs()
    parts = carve(split, ValidationSpec(0.25, seed=0))
    seen = {}
    for side, part in parts.items():
        q, d = part.fields["query"], part.fields["doc"]
        for g in set(q.groups) | set(d.groups):
            assert seen.setdefault(g, side) == side, f"module {g} on both sides"
        rel = part.relevance.pairs
        assert len(rel) == len(q.ids) == len(d.ids)
        assert q.ids[rel[:, 0]].tolist() == d.ids[rel[:, 1]].tolist()
        assert [q.items[i][1:] for i in rel[:, 0]] == [d.items[j][1:] for j in rel[:, 1]]
    n_val = len(parts["val"].fields["query"].ids)
    assert 0.15 * 300 < n_val < 0.4 * 300
    assert parts["val"].provenance["validation"]["grouped_by"] == [
        "groups:doc",
        "groups:query",
        "relevance:query-doc",
    ]


def _modules(n_modules: int = 120, strata: int = 60, seed: int = 0) -> Split:
    """Modules of very unequal size (a few hundred rows down to one), two per stratum on
    average: pycode's shape, where most strata hold fewer rows than one large module."""
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.geometric(0.05, n_modules), 300)
    groups = np.repeat(np.arange(n_modules), sizes)
    labels = groups % strata
    n = len(groups)
    fld = Field("doc", "text", [f"d{i}" for i in range(n)], _ids("d", n), labels, groups)
    return Split("code", "train", {"doc": fld})


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fraction", [0.1, 0.15, 0.3])
def test_a_carve_of_large_modules_keeps_near_its_fraction(fraction: float, seed: int):
    split = _modules(seed=seed)
    n = len(split.fields["doc"].ids)
    parts = carve(split, ValidationSpec(fraction, seed=seed))
    n_val = len(parts["val"].fields["doc"].ids)
    assert abs(n_val / n - fraction) < 0.02, (n_val, n)


def test_a_unit_that_would_overshoot_is_skipped_for_smaller_ones():
    assert _fill(np.array([2, 1, 50, 1, 1]), 4.0).tolist() == [True, True, False, True, False]
    assert _fill(np.array([50, 3]), 2.0).tolist() == [False, True]
    assert not _fill(np.array([5]), 2.0).any()  # 5 rows for a share of 2: nearer to take none
    assert _fill(np.array([3]), 2.0).all()  # 3 rows for a share of 2: nearer to take it


def test_an_image_and_all_its_captions_stay_together():
    n_img = 50
    texts = np.repeat(np.arange(n_img), 5)
    img = Field("image", "image", [f"p{i}.jpg" for i in range(n_img)], _ids("i", n_img))
    txt = Field("text", "text", [f"c{i}" for i in range(len(texts))], _ids("t", len(texts)))
    pairs = np.stack([np.arange(len(texts)), texts, np.ones(len(texts), np.int64)], 1)
    split = Split("cap", "train", {"image": img, "text": txt}, Relevance("text", "image", pairs))
    parts = carve(split, ValidationSpec(0.2, seed=3))
    for part in parts.values():
        rel = part.relevance.pairs
        assert len(rel) == 5 * len(part.fields["image"].ids) == len(part.fields["text"].ids)
        assert np.bincount(rel[:, 1]).tolist() == [5] * len(part.fields["image"].ids)


def test_bad_fraction_and_a_split_too_small_to_carve_are_refused():
    with pytest.raises(DataError, match=r"validation.fraction must be in \(0, 1\)"):
        ValidationSpec(1.5)
    with pytest.raises(DataError, match=r"validation\.seed"):
        ValidationSpec(0.2, seed=-1)
    one = Split(
        "tiny", "train", {"image": Field("image", "vector", np.zeros((1, 2)), _ids("x", 1))}
    )
    with pytest.raises(DataError, match="leaves one side"):
        carve(one, ValidationSpec(0.5))


def test_load_split_carves_the_loaders_train_split_only():
    spec = ValidationSpec(0.2, seed=0)
    fit = load_split("digits", "train", {"limit": 200}, name="digits", validation=spec)
    val = load_split("digits", "val", {"limit": 200}, name="digits", validation=spec)
    test = load_split("digits", "test", {"limit": 100}, name="digits", validation=spec)
    whole = load_split("digits", "train", {"limit": 200}, name="digits")
    f, v = fit.fields["image"].ids, val.fields["image"].ids
    assert sorted([*f, *v]) == sorted(whole.fields["image"].ids) and len(v) == 40
    assert not set(test.fields["image"].ids) & (set(f) | set(v))
    assert val.provenance["validation"]["carved_from"] == "train"
