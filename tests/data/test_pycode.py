"""pycode: docstring -> code pairs from installed Python source."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from csrbench.data import DataError, Split, pycode
from csrbench.data.pycode import first_sentence, load


@pytest.fixture(scope="module")
def stdlib() -> dict[str, Split]:
    """One stdlib build for the module (the parse is the slow part, about a second)."""
    return {s: load(s, name="code") for s in ("train", "test")}


def test_stdlib_counts_and_disjoint_splits(stdlib: dict[str, Split]) -> None:
    train, test = stdlib["train"], stdlib["test"]
    n_train, n_test = len(train.fields["query"].items), len(test.fields["query"].items)
    assert 4000 < n_train + n_test < 6000
    assert train.provenance["pairs_total"] == n_train + n_test
    assert 0.17 < n_test / (n_train + n_test) < 0.23
    assert not set(train.fields["query"].ids) & set(test.fields["query"].ids)
    sources = train.provenance["sources"]["stdlib"]
    assert sources["files"] > 500 and sources["files_unparsable"] == 0
    assert train.provenance["python"].startswith(f"{sys.version_info.major}.")


def test_fields_align_and_relevance_is_diagonal(stdlib: dict[str, Split]) -> None:
    split = stdlib["test"]
    query, doc = split.fields["query"], split.fields["doc"]
    n = len(query.items)
    assert query.kind == doc.kind == "text"
    np.testing.assert_array_equal(query.ids, doc.ids)
    np.testing.assert_array_equal(query.labels, doc.labels)
    assert split.relevance is not None
    assert (split.relevance.source, split.relevance.target) == ("query", "doc")
    np.testing.assert_array_equal(split.relevance.pairs[:, 0], np.arange(n))
    np.testing.assert_array_equal(split.relevance.pairs[:, 1], np.arange(n))
    assert set(split.relevance.pairs[:, 2]) == {1}
    # Unique texts on both sides (deduplicated) and unique ids.
    assert len(set(query.items)) == len(set(doc.items)) == len(set(query.ids)) == n


def test_labels_are_top_level_modules_shared_by_both_splits(stdlib: dict[str, Split]) -> None:
    train, test = stdlib["train"], stdlib["test"]
    names = train.provenance["label_names"]
    assert names == test.provenance["label_names"] == sorted(names)
    for split in (train, test):
        field = split.fields["query"]
        for qual, label in zip(field.ids[:200], field.labels[:200], strict=True):
            assert names[label] == qual.split(".")[0]


def test_known_function_pair(stdlib: dict[str, Split]) -> None:
    both = {
        qual: (split.fields["query"].items[i], split.fields["doc"].items[i])
        for split in stdlib.values()
        for i, qual in enumerate(split.fields["query"].ids)
    }
    query, doc = both["json.dumps"]
    assert query == "Serialize ``obj`` to a JSON formatted ``str``."
    assert doc.startswith("def dumps(obj, *, skipkeys=False")
    assert "Serialize ``obj``" not in doc and '"""' not in doc.split("\n", 3)[1]
    # Methods carry their class in the qualified name; the source is dedented.
    query, doc = both["json.decoder.JSONDecoder.decode"]
    assert doc.startswith("def decode(self, s, _w=WHITESPACE.match):")
    assert query.startswith("Return the Python representation of ``s``")


def test_skips_tests_gui_and_vendored_code(stdlib: dict[str, Split]) -> None:
    quals = [q for split in stdlib.values() for q in split.fields["query"].ids]
    banned_top = {"test", "idlelib", "tkinter", "turtledemo", "turtle"}
    assert not [q for q in quals if q.split(".")[0] in banned_top]
    assert not [q for q in quals if ".tests." in q or ".test." in q or "._vendor." in q]
    short = [
        q for split in stdlib.values() for q in split.fields["query"].items if len(q.split()) < 3
    ]
    assert not short


def test_deterministic_across_builds(stdlib: dict[str, Split]) -> None:
    pycode.build.cache_clear()
    again = load("train", name="code")
    np.testing.assert_array_equal(again.fields["query"].ids, stdlib["train"].fields["query"].ids)
    assert again.fields["doc"].items == stdlib["train"].fields["doc"].items


def test_limit_is_label_stratified(stdlib: dict[str, Split]) -> None:
    small = load("train", name="code", limit=300)
    field = small.fields["query"]
    assert len(field.items) == 300
    assert set(field.ids) <= set(stdlib["train"].fields["query"].ids)
    full_counts = np.bincount(stdlib["train"].fields["query"].labels)
    small_counts = np.bincount(field.labels, minlength=len(full_counts))
    top = int(np.argmax(full_counts))
    expected = 300 * full_counts[top] / full_counts.sum()
    assert abs(small_counts[top] - expected) <= 1
    assert small.relevance is not None and small.relevance.pairs.shape == (300, 3)


PACKAGE = {
    "__init__.py": 'raise RuntimeError("scanned packages must never be imported")\n',
    "core.py": '''
        import functools

        def add(a, b):
            """Add two numbers together. More text here.

            Details nobody reads.
            """
            total = a + b
            return total

        def tiny(a):
            """Return a unchanged, trivially."""
            return a

        def stub(a):
            """This one is only a stub."""
            raise NotImplementedError

        def same_query(a):
            """Add two numbers together."""
            x = a
            return x

        class Box:
            """A box."""

            def __repr__(self):
                """Show the box nicely here."""
                return "Box()"

            @functools.cache
            def open(self, key):
                """Open the box with a key."""
                if key:
                    return True
                return False

        if True:
            def branchy(n):
                """Count down from n to zero."""
                while n:
                    n -= 1
                return n
    ''',
    "tests/test_core.py": '''
        def test_add():
            """Check that add adds numbers."""
            assert 1 + 1 == 2
            assert 2 + 2 == 4
    ''',
    "_vendor/other.py": '''
        def vendored(x):
            """Vendored code is not ours."""
            y = x
            return y
    ''',
    "broken.py": "def oops(:\n",
}


@pytest.fixture()
def tiny_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    root = tmp_path / "site"
    for rel, text in PACKAGE.items():
        path = root / "tinypkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    monkeypatch.syspath_prepend(str(root))
    return "tinypkg"


def test_extraction_rules_on_a_package(tiny_package: str) -> None:
    pycode.build.cache_clear()
    splits = [
        load(s, packages=[tiny_package], include_stdlib=False, test_fraction=0.5)
        for s in ("train", "test")
    ]
    pycode.build.cache_clear()
    pairs = {
        q: (s.fields["query"].items[i], s.fields["doc"].items[i])
        for s in splits
        for i, q in enumerate(s.fields["query"].ids)
    }
    # stub, __repr__ (trivial dunder), same_query (duplicate query of add, which sorts
    # first), tests/ and _vendor/ are dropped; tiny (2 lines) passes min_code_lines=2.
    assert sorted(pairs) == [
        "tinypkg.core.Box.open",
        "tinypkg.core.add",
        "tinypkg.core.branchy",
        "tinypkg.core.tiny",
    ]
    assert pairs["tinypkg.core.add"] == (
        "Add two numbers together.",
        "def add(a, b):\n    total = a + b\n    return total",
    )
    assert pairs["tinypkg.core.Box.open"][1].startswith("@functools.cache\ndef open(self, key):")
    prov = splits[0].provenance
    assert prov["sources"]["tinypkg"]["files_unparsable"] == 1
    assert prov["label_names"] == ["tinypkg"]
    assert "tinypkg" not in sys.modules
    strict, _ = pycode.build(("tinypkg",), False, 3, 3)
    pycode.build.cache_clear()
    assert [p.qualname for p in strict] == [
        "tinypkg.core.Box.open",
        "tinypkg.core.add",
        "tinypkg.core.branchy",
    ]


def test_first_sentence() -> None:
    assert first_sentence("Return x, e.g. the first one. Then more.") == (
        "Return x, e.g. the first one."
    )
    assert first_sentence("Summary line\n  continued here\n\nBody.") == (
        "Summary line continued here"
    )
    assert first_sentence("What is it? Nothing.") == "What is it?"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"packages": ["no_such_pkg_xyz"]}, r"datasets\.code\.params\.packages.*no_such_pkg_xyz"),
        ({"packages": "numpy"}, r"datasets\.code\.params\.packages must be a list"),
        ({"packages": ["numpy.linalg"]}, r"top-level import name"),
        ({"packages": [], "include_stdlib": False}, r"nothing to scan"),
        ({"test_fraction": 0}, r"datasets\.code\.params\.test_fraction"),
        ({"min_query_words": 0}, r"datasets\.code\.params\.min_query_words"),
    ],
)
def test_bad_params_name_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load("train", name="code", **kwargs)


def test_unknown_split() -> None:
    with pytest.raises(DataError, match=r"unknown split 'dev'.*\['train', 'test'\]"):
        load("dev")
