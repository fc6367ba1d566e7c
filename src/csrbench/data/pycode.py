"""Docstring -> code retrieval pairs built from the Python source installed on this machine.

CodeSearchNet pairs a function's docstring (the query) with its code (the document).
The same construction over the standard library and a few installed packages gives a
real text-retrieval set (with module labels for classification) that needs no
download, so the embedded experiment and CI exercise a genuine retrieval task.

Construction (all with `ast`; nothing scanned is imported):

- files: every `.py` under the stdlib directory (minus `site-packages`) and under each
  configured package, skipping tests (`test/`, `tests/`, `test_*.py`, `*_test.py`,
  `conftest.py`), vendored code (`_vendor`, `vendored`, `externals`, ...), GUI code
  (`tkinter`, `idlelib`, `turtledemo`, `turtle.py`) and other non-library files;
- definitions: module-level functions and methods of (nested) classes, including those
  defined under module/class-level `if`/`try`/`with`; functions nested in functions
  are skipped;
- query: the first sentence of the docstring's first paragraph, whitespace-normalised;
  document: the definition's source (decorators included) with the docstring removed,
  dedented;
- filters, after CodeSearchNet: no query shorter than `min_query_words` words, no
  document shorter than `min_code_lines` non-blank lines (def line included), no stub
  bodies (`pass`, `...`, `raise NotImplementedError`), and dunder methods (`__init__`,
  `__repr__`, ...) only when non-trivial (at least `DUNDER_MIN_LINES` lines);
- deduplication: candidates sorted by qualified name; a later candidate with an already
  seen qualified name, query or document is dropped;
- split: sha1 of the qualified name `module.Class.func` (stable across processes and
  machines, and the same function always lands in the same split);
- label: the top-level module (`json`, `numpy`), ids over the whole set.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import io
import os
import platform
import re
import sys
import sysconfig
import textwrap
import time
import tokenize
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.data.base import DataError, Field, Relevance, Split
from csrbench.data.splitting import (
    DEFAULT_SPLITS,
    check_fraction,
    check_limit,
    check_split,
    config_key,
    reject_unknown_params,
    stable_unit,
    stratified_subsample,
)

PARAMS = (
    "name",
    "packages",
    "include_stdlib",
    "test_fraction",
    "limit",
    "seed",
    "min_query_words",
    "min_code_lines",
)

# Directory names never descended into: tests, vendored copies of other projects,
# GUI code, caches and installed third-party trees inside the stdlib directory.
SKIP_DIRS = frozenset(
    {
        "test",
        "tests",
        "__pycache__",
        "site-packages",
        "dist-packages",
        "_vendor",
        "vendor",
        "_vendored",
        "vendored",
        "externals",
        "_externals",
        "extern",
        "_bundled",
        "idlelib",
        "tkinter",
        "turtledemo",
        "lib-dynload",
    }
)
SKIP_FILES = frozenset({"turtle.py", "conftest.py", "setup.py", "__main__.py"})
# Dunder methods (`__repr__`, `__eq__`, ...) are mostly boilerplate: keep one only when
# its code (def line included, docstring removed) has at least this many lines.
DUNDER_MIN_LINES = 4
# Words whose trailing period does not end a sentence.
ABBREVIATIONS = frozenset({"e.g", "i.e", "etc", "vs", "cf", "approx", "resp", "incl", "no", "ca"})
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


@dataclass(frozen=True)
class CodePair:
    """One docstring/code pair before splitting."""

    qualname: str  # module.Class.func, the id and the split key
    label: str  # top-level module
    query: str
    doc: str
    path: str  # file the definition came from, relative to its source root
    lineno: int


@dataclass(frozen=True)
class Source:
    """A tree of Python files to scan: the stdlib or one package."""

    name: str  # "stdlib" or the package's import name
    root: Path  # directory module names are relative to
    start: Path  # file or directory to scan under root
    version: str


def first_sentence(docstring: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line.

    Periods after common abbreviations (e.g., i.e., etc.) do not end the sentence; a
    paragraph without a sentence end is taken whole, as summary lines often are.
    """
    paragraph = docstring.strip().split("\n\n", 1)[0]
    text = " ".join(paragraph.split())
    for match in _SENTENCE_END.finditer(text):
        word = text[: match.start()].rsplit(" ", 1)[-1].lower()
        if word in ABBREVIATIONS:
            continue
        return text[: match.end()]
    return text


def _iter_definitions(body: Sequence[ast.stmt], prefix: str) -> Iterator[tuple[str, ast.AST]]:
    """Functions and methods in a module or class body, with their qualified names."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef):
            yield from _iter_definitions(node.body, f"{prefix}{node.name}.")
        elif isinstance(node, ast.If | ast.With | ast.AsyncWith):
            yield from _iter_definitions(node.body, prefix)
            yield from _iter_definitions(getattr(node, "orelse", []), prefix)
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _iter_definitions(block, prefix)
            for handler in node.handlers:
                yield from _iter_definitions(handler.body, prefix)


def _is_stub(statements: Sequence[ast.stmt]) -> bool:
    """True when a body (docstring removed) only passes, is `...`, or raises NotImplemented."""
    for stmt in statements:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # `...` or a stray string
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            if isinstance(exc, ast.Name) and exc.id in {"NotImplementedError", "NotImplemented"}:
                continue
        return False
    return True


def _strip_docstring(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The definition's source without its docstring lines, dedented; None if not separable.

    The docstring must sit on lines of its own (anything else is a one-liner that the
    length filter would drop anyway). Column offsets are UTF-8 byte offsets, hence the
    encode before slicing.
    """
    doc_node = node.body[0]
    first, last = doc_node.lineno, doc_node.end_lineno or doc_node.lineno
    head = lines[first - 1].encode()[: doc_node.col_offset].decode(errors="replace")
    tail = lines[last - 1].encode()[doc_node.end_col_offset or 0 :].decode(errors="replace")
    if head.strip() or tail.strip():
        return None
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    end = node.end_lineno or node.lineno
    kept = lines[start - 1 : first - 1] + lines[last:end]
    return textwrap.dedent("".join(kept)).rstrip()


def _read_source(path: Path) -> str:
    """File text honouring PEP 263 encoding cookies (a few stdlib files are not UTF-8)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        return raw.decode(encoding, errors="replace")


def _iter_files(source: Source) -> Iterator[Path]:
    """Library `.py` files of a source in sorted order, skipping tests/vendored/GUI code."""
    if source.start.is_file():
        yield source.start
        return
    for dirpath, dirnames, filenames in os.walk(source.start):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIP_DIRS and d.isidentifier() and not d.startswith("config-")
        )
        for filename in sorted(filenames):
            if (
                not filename.endswith(".py")
                or filename in SKIP_FILES
                or filename.startswith(("test_", "_sysconfigdata"))
                or filename.endswith("_test.py")
                or not filename[:-3].isidentifier()
            ):
                continue
            yield Path(dirpath, filename)


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _extract(
    source: Source, path: Path, min_query_words: int, min_code_lines: int
) -> tuple[list[CodePair], bool]:
    """Pairs from one file, and whether it parsed."""
    text = _read_source(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text, filename=str(path))
    except (SyntaxError, ValueError):
        return [], False
    module = _module_name(source.root, path)
    label = module.split(".", 1)[0]
    lines = text.splitlines(keepends=True)
    rel = str(path.relative_to(source.root))
    pairs = []
    for qual, node in _iter_definitions(tree.body, f"{module}."):
        assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        docstring = ast.get_docstring(node, clean=True)
        if not docstring or len(node.body) < 2 or _is_stub(node.body[1:]):
            continue
        query = first_sentence(docstring)
        if len(query.split()) < min_query_words or "---" in query or ">>>" in query:
            continue
        doc = _strip_docstring(lines, node)
        if doc is None:
            continue
        code_lines = sum(1 for line in doc.splitlines() if line.strip())
        dunder = node.name.startswith("__") and node.name.endswith("__")
        if code_lines < max(min_code_lines, DUNDER_MIN_LINES if dunder else 0):
            continue
        pairs.append(CodePair(qual, label, query, doc, rel, node.lineno))
    return pairs, True


def _stdlib_source() -> Source:
    root = Path(sysconfig.get_paths()["stdlib"])
    return Source("stdlib", root, root, platform.python_version())


def _package_source(package: str, name: str | None) -> Source:
    """Locate an installed package without importing it (find_spec on a top-level name)."""
    key = config_key(name, "packages")
    if not isinstance(package, str) or not package.isidentifier():
        raise DataError(
            f"{key}: {package!r} is not a top-level import name; list packages as they are "
            "imported, e.g. ['numpy', 'sklearn']"
        )
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        raise DataError(
            f"{key}: package {package!r} is not installed as Python source in this "
            f"environment ({sys.prefix}); install it or remove it from the list"
        )
    if spec.submodule_search_locations:
        start = Path(next(iter(spec.submodule_search_locations)))
        root = start.parent
    else:
        start = Path(spec.origin)
        root = start.parent
    return Source(package, root, start, _package_version(package))


def _package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        dists = importlib.metadata.packages_distributions().get(package, [])
        for dist in dists:
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
    return "unknown"


@functools.lru_cache(maxsize=4)
def build(
    packages: tuple[str, ...],
    include_stdlib: bool,
    min_query_words: int,
    min_code_lines: int,
    name: str | None = None,
) -> tuple[tuple[CodePair, ...], dict[str, Any]]:
    """All deduplicated pairs in sorted qualified-name order, and build statistics.

    Cached in memory only, so loading train then test in one process parses once.
    """
    started = time.perf_counter()
    sources = ([_stdlib_source()] if include_stdlib else []) + [
        _package_source(p, name) for p in packages
    ]
    if not sources:
        raise DataError(
            f"{config_key(name, 'packages')} is empty and "
            f"{config_key(name, 'include_stdlib')} is false: nothing to scan"
        )
    candidates: list[CodePair] = []
    stats: dict[str, Any] = {"sources": {}}
    for source in sources:
        files = parsed = 0
        found: list[CodePair] = []
        for path in _iter_files(source):
            pairs, ok = _extract(source, path, min_query_words, min_code_lines)
            files += 1
            parsed += ok
            found.extend(pairs)
        stats["sources"][source.name] = {
            "path": str(source.start),
            "version": source.version,
            "files": files,
            "files_unparsable": files - parsed,
            "candidates": len(found),
        }
        candidates.extend(found)
    candidates.sort(key=lambda p: (p.qualname, p.path, p.lineno))
    seen_names: set[str] = set()
    seen_queries: set[str] = set()
    seen_docs: set[str] = set()
    kept: list[CodePair] = []
    for pair in candidates:
        if pair.qualname in seen_names or pair.query in seen_queries or pair.doc in seen_docs:
            continue
        seen_names.add(pair.qualname)
        seen_queries.add(pair.query)
        seen_docs.add(pair.doc)
        kept.append(pair)
    stats["candidates"] = len(candidates)
    stats["pairs"] = len(kept)
    stats["duplicates_dropped"] = len(candidates) - len(kept)
    stats["build_seconds"] = round(time.perf_counter() - started, 3)
    return tuple(kept), stats


def load(
    split: str,
    *,
    name: str | None = None,
    packages: Sequence[str] = (),
    include_stdlib: bool = True,
    test_fraction: float = 0.2,
    limit: int | None = None,
    seed: int = 0,
    min_query_words: int = 3,
    min_code_lines: int = 2,
    **unknown: Any,
) -> Split:
    """Load the train or test split of the docstring -> code retrieval set.

    Fields "query" (first docstring sentence) and "doc" (code without docstring), both
    text, with the same ids (qualified names) and labels (top-level module); relevance
    is query i -> doc i, grade 1. `limit` keeps a label-stratified, seeded subset.
    """
    reject_unknown_params("pycode", unknown, PARAMS, name)
    check_split(split, DEFAULT_SPLITS, name)
    if isinstance(packages, str) or not isinstance(packages, Sequence):
        raise DataError(
            f"{config_key(name, 'packages')} must be a list of import names, got {packages!r}"
        )
    for package in packages:
        if not isinstance(package, str) or not package.isidentifier():
            raise DataError(
                f"{config_key(name, 'packages')}: {package!r} is not a top-level import name; "
                "list packages as they are imported, e.g. ['numpy', 'sklearn']"
            )
    test_fraction = check_fraction(test_fraction, name, "test_fraction")
    limit = check_limit(limit, name)
    for key, value in (("min_query_words", min_query_words), ("min_code_lines", min_code_lines)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DataError(f"{config_key(name, key)} must be a positive integer, got {value!r}")

    pairs, stats = build(
        tuple(packages), bool(include_stdlib), min_query_words, min_code_lines, name
    )
    label_names = sorted({p.label for p in pairs})
    label_index = {label: i for i, label in enumerate(label_names)}
    in_test = [stable_unit(p.qualname, "pycode-split") < test_fraction for p in pairs]
    chosen = [p for p, t in zip(pairs, in_test, strict=True) if t == (split == "test")]
    counts = {"train": len(pairs) - sum(in_test), "test": sum(in_test)}
    if not chosen:
        raise DataError(
            f"{config_key(name)}: split {split!r} of pycode is empty; add packages or "
            f"adjust {config_key(name, 'test_fraction')}"
        )
    labels = np.array([label_index[p.label] for p in chosen], dtype=np.int64)
    rows = stratified_subsample(labels, limit, seed=seed)
    chosen = [chosen[i] for i in rows]
    labels = labels[rows]
    ids = np.array([p.qualname for p in chosen])
    modules = np.array([p.path for p in chosen])  # a validation carve keeps a module whole
    n = len(chosen)
    query = Field("query", "text", [p.query for p in chosen], ids, labels, modules)
    doc = Field("doc", "text", [p.doc for p in chosen], ids.copy(), labels.copy(), modules.copy())
    arange = np.arange(n, dtype=np.int64)
    relevance = Relevance("query", "doc", np.stack([arange, arange, np.ones(n, np.int64)], 1))
    return Split(
        dataset=name or "pycode",
        split=split,
        fields={"query": query, "doc": doc},
        relevance=relevance,
        provenance={
            "loader": "pycode",
            "source": "docstring/function pairs parsed with ast from installed Python source",
            "python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "params": {
                "packages": list(packages),
                "include_stdlib": bool(include_stdlib),
                "test_fraction": test_fraction,
                "limit": limit,
                "seed": seed,
                "min_query_words": min_query_words,
                "min_code_lines": min_code_lines,
            },
            "package_versions": {
                src: info["version"] for src, info in stats["sources"].items() if src != "stdlib"
            },
            "sources": stats["sources"],
            "pairs_total": stats["pairs"],
            "candidates": stats["candidates"],
            "duplicates_dropped": stats["duplicates_dropped"],
            "pairs_per_split": counts,
            "n": n,
            "label_names": label_names,
            "label_counts": dict(sorted(Counter(label_names[i] for i in labels.tolist()).items())),
            "build_seconds": stats["build_seconds"],
        },
    )
