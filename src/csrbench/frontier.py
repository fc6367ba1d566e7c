"""The accuracy-per-byte frontier: every (method, k, codec) of an experiment scored
against the exact bytes an index stores per document.

For each encoded (method, budget, seed) and each codec (`csrbench.codecs`):

1. the database field's codes are L2-normalised (the metrics rank by cosine), the codec
   is calibrated on the *training* split's normalised codes of that field, and the
   database is encoded and decoded;
2. the queries, kept at full precision (asymmetric search, as an index serves them), are
   L2-normalised and ranked against the decoded database by inner product, exactly;
3. the per-item scores follow the experiment's data, as in `evaluate`: 1-NN hits for a
   labelled image field (database = training images), per-query nDCG@10, MRR@10 and
   Recall@k for relevance pairs (database = the eval split's targets).

`analyse` then finds the Pareto frontier of mean score against bytes per document, and
at each byte budget the best configuration, each method's best, and a paired test of
the best against the best configuration of any other method (per-item scores averaged
over seeds; Holm-adjusted over the budgets; a pair already tested at a smaller budget is
not tested again).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from csrbench import metrics
from csrbench.atomic import write_json
from csrbench.codecs import Codes, codec, codec_names
from csrbench.codesdir import CodesDir, SearchRoles, database_record, search_roles
from csrbench.compare import ALPHA, BYTE_BUDGETS, holm, pick_primary
from csrbench.devices import hardware_info
from csrbench.evaluate import RETRIEVAL_DEPTH
from csrbench.retrieval import rows, search
from csrbench.stats import RESAMPLES, paired_test, seed_interval
from csrbench.store import SplitEmbeddings, load_split


@dataclass(frozen=True)
class Point:
    """One (method, budget, codec) over its seeds: bytes and per-item scores."""

    method: str
    budget: str
    k: int | None
    codec: str
    sparse: bool
    bytes_per_doc: int
    index_bytes: int
    seeds: tuple[int, ...]
    items: dict[str, np.ndarray]  # metric -> [n_seeds, n_items]

    @property
    def name(self) -> str:
        return f"{self.method} {self.budget} {self.codec}"

    def mean(self, metric: str) -> float:
        return float(self.items[metric].mean())

    def describe(self, metric: str) -> dict[str, Any]:
        per_seed = self.items[metric].mean(axis=1)
        return {
            "method": self.method,
            "budget": self.budget,
            "k": self.k,
            "codec": self.codec,
            "bytes_per_doc": self.bytes_per_doc,
            "mean": self.mean(metric),
            "spread": seed_interval(per_seed).as_dict(),
        }


def _seed_of(codes_dir: Path) -> int:
    name = codes_dir.name
    if not name.startswith("seed") or not name[4:].isdigit():
        raise ValueError(f"{codes_dir} is not an encode output (its last part must be seed<N>)")
    return int(name[4:])


@dataclass(frozen=True)
class Scoring:
    """What every codes dir of an experiment is scored against: its opened training and
    eval splits, their names, and the further splits whose documents join the database
    (`corpus`, `evaluate_job`'s). Built once per frontier job."""

    train: SplitEmbeddings
    test: SplitEmbeddings
    train_split: str
    eval_split: str
    corpus: tuple[str, ...] = ()

    @property
    def roles(self) -> SearchRoles:
        return search_roles(self.test.relevance)

    @property
    def database_splits(self) -> tuple[str, ...]:
        return self.roles.database_splits(self.train_split, self.eval_split, self.corpus)


def score_codes(
    encoded: CodesDir, scoring: Scoring, codecs: Sequence[str]
) -> dict[str, tuple[int, int, dict[str, np.ndarray]]]:
    """codec -> (bytes per document, index bytes, per-item scores) of one codes dir."""
    roles, db_splits = scoring.roles, scoring.database_splits
    database = metrics.l2_normalize(encoded.load_rows(db_splits, roles.database_field))
    calibration = (  # image 1-NN searches the training images: the same codes
        database
        if db_splits == (scoring.train_split,)
        else metrics.l2_normalize(encoded.load(scoring.train_split, roles.database_field))
    )
    queries = metrics.l2_normalize(encoded.load(scoring.eval_split, roles.query_field))
    out = {}
    for name in codecs:
        book = codec(name).fit(calibration)
        packed = book.encode(database)
        decoded = book.decode(packed)
        items = _items(decoded, queries, scoring.train, scoring.test)
        out[name] = (packed.bytes_per_doc, book.index_bytes, items)
    return out


def _items(
    database: Codes, queries: Codes, train: SplitEmbeddings, test: SplitEmbeddings
) -> dict[str, np.ndarray]:
    rel = test.relevance
    if rel is None:  # image kNN: database = training images, queries = the eval split's
        hits = metrics.knn_hits(
            database, train.field("image").labels, queries, test.field("image").labels,
            normalize=False,
        )  # fmt: skip
        return {"knn1_top1": hits.astype(np.float64)}
    _, ranked = search(None, database, queries, min(RETRIEVAL_DEPTH, rows(database)))
    scores = metrics.retrieval_scores(ranked, rel, per_query=True)
    scores.pop("n_queries", None)
    return {name: np.asarray(v, dtype=np.float64) for name, v in scores.items()}


def unsupported(train: SplitEmbeddings, test: SplitEmbeddings) -> str | None:
    """Why the data has no metric an index serves (None when it has one): relevance
    pairs, or a labelled image field in both splits (1-NN against the training images).
    Classification-only data (labelled text without relevance) has none."""
    if test.relevance is not None:
        return None
    image, train_image = test.fields.get("image"), train.fields.get("image")
    if image is None or train_image is None:
        return "it has neither relevance pairs nor an image field in both splits"
    if image.labels is None or train_image.labels is None:
        return "its image fields carry no labels for 1-NN accuracy"
    return None


def collect_points(
    codes_dirs: Iterable[str | Path],
    embeddings: dict[str, str | Path],
    train_split: str,
    eval_split: str,
    codecs: Sequence[str],
    corpus: Sequence[str] = (),
) -> list[Point]:
    """Score every codes dir with every codec that applies; fold seeds into Points.
    Raises (naming what is missing) when the data has no index-served metric."""
    train, test = load_split(embeddings[train_split]), load_split(embeddings[eval_split])
    reason = unsupported(train, test)
    if reason:
        raise ValueError(f"no accuracy-per-byte frontier for {embeddings[eval_split]}: {reason}")
    scoring = Scoring(train, test, train_split, eval_split, tuple(corpus))
    return score_points(codes_dirs, scoring, codecs)


def score_points(
    codes_dirs: Iterable[str | Path], scoring: Scoring, codecs: Sequence[str]
) -> list[Point]:
    """`collect_points` on splits already opened (and checked by `unsupported`)."""
    groups: dict[tuple[str, str, str], dict[int, tuple[CodesDir, Any]]] = {}
    for path in sorted(Path(p) for p in codes_dirs):
        encoded = CodesDir.read(path)
        usable = [c for c in codecs if c in codec_names(sparse=True)] if encoded.sparse else codecs
        scored = score_codes(encoded, scoring, usable)
        for name, result in scored.items():
            key = (encoded.method, path.parent.name, name)
            groups.setdefault(key, {})[_seed_of(path)] = (encoded, result)
    points = []
    for (method, budget, name), by_seed in sorted(groups.items()):
        seeds = tuple(sorted(by_seed))
        encoded, (nbytes, index_bytes, _) = by_seed[seeds[0]]
        shared = set.intersection(*(set(by_seed[s][1][2]) for s in seeds))
        items = {m: np.stack([by_seed[s][1][2][m] for s in seeds]) for m in sorted(shared)}
        points.append(
            Point(
                method, budget, encoded.k, name, encoded.sparse, nbytes, index_bytes, seeds, items
            )
        )
    return points


def primary_metric(points: Sequence[Point]) -> str:
    return pick_primary(set().union(*(p.items for p in points)), "draw a frontier of")


def pareto(points: Sequence[Point], metric: str) -> list[Point]:
    """The points no other point beats with as few bytes: cheapest first."""
    front, best = [], -math.inf
    for p in sorted(points, key=lambda p: (p.bytes_per_doc, -p.mean(metric))):
        if p.mean(metric) > best:
            front.append(p)
            best = p.mean(metric)
    return front


def _best(points: Iterable[Point], metric: str) -> Point | None:
    return max(points, key=lambda p: (p.mean(metric), -p.bytes_per_doc), default=None)


def analyse(
    points: Sequence[Point],
    metric: str,
    byte_budgets: Sequence[int] = BYTE_BUDGETS,
    n_resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Per byte budget: the best point, each method's best, and the best vs the best of
    any other method (paired test; Holm over the budgets tested)."""
    rows: list[dict[str, Any]] = []
    tested: dict[tuple[str, str], int] = {}
    for budget in byte_budgets:
        fits = [p for p in points if p.bytes_per_doc <= budget and metric in p.items]
        best = _best(fits, metric)
        if best is None:
            rows.append({"budget": budget, "best": None, "per_method": {}, "test": None})
            continue
        per_method = {
            m: _best((p for p in fits if p.method == m), metric).describe(metric)  # type: ignore[union-attr]
            for m in sorted({p.method for p in fits})
        }
        other = _best((p for p in fits if p.method != best.method), metric)
        row: dict[str, Any] = {
            "budget": budget,
            "best": best.describe(metric),
            "per_method": per_method,
            "runner_up": other.describe(metric) if other else None,
            "test": None,
        }
        if other is not None:
            pair = (best.name, other.name)
            if pair in tested:
                row["same_test_as"] = tested[pair]
            else:
                tested[pair] = budget
                result = paired_test(
                    best.items[metric], other.items[metric], n_resamples=n_resamples, seed=seed
                )
                row["test"] = {
                    f"diff_{key}" if key in ("low", "high") else key: v
                    for key, v in result.as_dict().items()
                }
        rows.append(row)
    family = [r["test"] for r in rows if r["test"] is not None]
    for test, p in zip(family, holm([t["p_value"] for t in family]), strict=True):
        test["p_holm"] = p
        test["significant"] = p < ALPHA
    for row in rows:  # a repeated pair carries the verdict of its first test
        if "same_test_as" in row:
            first = next(r for r in rows if r["budget"] == row["same_test_as"])
            row["test"] = first["test"]
    return rows


def frontier_body(
    experiment: str,
    points: Sequence[Point],
    codecs: Sequence[str],
    roles: dict[str, dict[str, str]],
    n_resamples: int = RESAMPLES,
) -> dict[str, Any]:
    """The body of `results/frontier/{experiment}.json`: every point with its Pareto
    flag, and the per-budget analysis. `roles`: which split and field were the
    queries, the database and the calibration set (for the record)."""
    if not points:
        raise ValueError(f"no codes to score for {experiment}")
    metric = primary_metric(points)
    front = {p.name for p in pareto(points, metric)}
    return {
        "experiment": experiment,
        "metric": metric,
        "codecs": {name: type(codec(name)).summary for name in codecs},
        **roles,
        "alpha": ALPHA,
        "correction": "holm over the byte budgets tested",
        "test": "paired sign-flip permutation on per-item scores averaged over seeds; "
        "percentile bootstrap interval of the mean difference",
        "n_resamples": n_resamples,
        "points": [
            {
                **p.describe(metric),
                "sparse": p.sparse,
                "index_bytes": p.index_bytes,
                "seeds": list(p.seeds),
                "pareto": p.name in front,
                "metrics": {m: p.mean(m) for m in p.items},
            }
            for p in sorted(points, key=lambda p: (p.bytes_per_doc, p.method, p.codec))
        ],
        "budgets": analyse(points, metric, n_resamples=n_resamples),
    }


def frontier_job(
    experiment: str,
    codes_dirs: Sequence[str | Path],
    embeddings: dict[str, str | Path],
    train_split: str,
    eval_split: str,
    codecs: Sequence[str],
    out_path: str | Path,
    n_resamples: int = RESAMPLES,
    corpus: Sequence[str] = (),
) -> dict[str, Any]:
    """Write `results/frontier/{experiment}.json`: every point, the frontier, the
    per-budget winners and their tests; for data without an index-served metric
    (classification only), a file that says so and holds no point. `corpus`: further
    splits whose documents join the database (`evaluate_job`'s)."""
    for name in codecs:
        codec(name)  # an unknown name fails before any work
    t = time.perf_counter()
    train, test = load_split(embeddings[train_split]), load_split(embeddings[eval_split])
    reason = unsupported(train, test)
    if reason:  # not an error: the experiment's other results stand, the report says why
        result = {"experiment": experiment, "skipped": reason, "points": [], "budgets": []}
        write_json(out_path, result)
        return result
    scoring = Scoring(train, test, train_split, eval_split, tuple(corpus))
    points = score_points(codes_dirs, scoring, codecs)
    roles = scoring.roles
    where = {
        "queries": {"split": eval_split, "field": roles.query_field, "precision": "float32"},
        "database": database_record(scoring.database_splits, roles.database_field),
        "calibration": {"split": train_split, "field": roles.database_field},
    }
    result = frontier_body(experiment, points, codecs, where, n_resamples)
    result["seconds"] = time.perf_counter() - t
    result["hardware"] = hardware_info()
    write_json(out_path, result)
    return result
