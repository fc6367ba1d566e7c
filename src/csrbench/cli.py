"""The `csrbench` command: CSR (and every other method) on your own embedding files.

    csrbench fit --method csr --k 32 --train X.npy --out my-csr
    csrbench encode --model my-csr --input X.npy --out codes.npz
    csrbench eval --codes codes.npz --labels y.npy
    csrbench export-st --model my-csr --out my-csr-st
    csrbench import-st released-csr-folder --out their-csr

Arrays are read from `.npy`, `.npz` (its only array, or `file.npz:key`) or `.parquet`
(`file.parquet:column`, else its only list/array column, else all float columns as the
matrix, else its integer columns). Outputs are written under a temporary name and renamed
into place (`csrbench.atomic`). Messages and progress go to stderr; only `eval` prints
(its JSON) to stdout. Bad input exits with status 2 and one line naming the problem and
the fix; set CSRBENCH_DEBUG=1 to get the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.api import check_matrix, check_pairs, embeddings_split, neighbours
from csrbench.atomic import atomic_dir, atomic_path, write_json

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class CliError(ValueError):
    """Bad command-line input; the message names the flag and the fix."""


def _say(msg: str) -> None:
    print(f"csrbench: {msg}", file=sys.stderr, flush=True)


# ---- reading inputs ---------------------------------------------------------------


def _path_and_key(spec: str) -> tuple[Path, str | None]:
    """`file.npz:key` -> (file.npz, key); a path that exists as given wins."""
    if Path(spec).exists() or ":" not in spec:
        return Path(spec).expanduser(), None
    path, key = spec.rsplit(":", 1)
    return Path(path).expanduser(), key or None


def read_array(spec: str, flag: str) -> np.ndarray:
    """One array from a .npy / .npz / .parquet file (see the module docstring)."""
    path, key = _path_and_key(spec)
    if not path.is_file():
        raise CliError(f"{flag}: no file {str(path)!r}; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            if key is not None:
                raise CliError(f"{flag}: a .npy file holds one array; drop ':{key}'")
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                names = list(z.files)
                if key is None and len(names) != 1:
                    raise CliError(
                        f"{flag}: {path.name} holds arrays {names}; name one as {path}:<name>"
                    )
                if key is not None and key not in names:
                    raise CliError(f"{flag}: {path.name} has no array {key!r}; it has {names}")
                return z[key or names[0]]
        if suffix == ".parquet":
            return _read_parquet(path, key, flag)
    except (ValueError, OSError) as err:
        if isinstance(err, CliError):
            raise
        raise CliError(f"{flag}: cannot read {str(path)!r} ({err})") from err
    raise CliError(f"{flag}: {path.name} is not .npy, .npz or .parquet; save it as .npy")


def _read_parquet(path: Path, key: str | None, flag: str) -> np.ndarray:
    import pandas as pd

    df = pd.read_parquet(path)

    def listish(col: Any) -> bool:
        return len(col) > 0 and isinstance(col.iloc[0], list | tuple | np.ndarray)

    def column(name: str) -> np.ndarray:
        col = df[name]
        if not listish(col):
            return col.to_numpy()
        try:
            return np.stack([np.asarray(v) for v in col])
        except ValueError as err:
            raise CliError(f"{flag}: rows of column {name!r} have different lengths") from err

    if key is not None:
        if key not in df.columns:
            raise CliError(f"{flag}: {path.name} has no column {key!r}; columns: {list(df)}")
        return column(key)
    lists = [c for c in df.columns if listish(df[c])]
    if len(lists) > 1:
        raise CliError(f"{flag}: {path.name} has list columns {lists}; name one as {path}:<col>")
    if lists:
        return column(lists[0])
    for kind in (pd.api.types.is_float_dtype, pd.api.types.is_integer_dtype):
        cols = [c for c in df.columns if kind(df[c])]
        if cols:
            arr = df[cols].to_numpy()
            return arr[:, 0] if len(cols) == 1 and kind is pd.api.types.is_integer_dtype else arr
    raise CliError(f"{flag}: {path.name} has no numeric or list column")


def read_matrix(spec: str, flag: str) -> np.ndarray:
    return check_matrix(read_array(spec, flag), f"{flag} {spec}")


def read_labels(spec: str, flag: str, n: int, rows_of: str) -> np.ndarray:
    y = np.asarray(read_array(spec, flag))
    if y.ndim != 1 or len(y) != n or not np.issubdtype(y.dtype, np.integer):
        raise CliError(
            f"{flag} {spec} must be a 1-D integer array with one class per row of {rows_of} "
            f"({n}), got shape {y.shape} dtype {y.dtype}"
        )
    return y


def _n_width(codes: Any) -> tuple[int, int]:
    """(rows, width): h for sparse codes, d for a dense matrix."""
    return (codes.n, codes.h) if hasattr(codes, "indices") else codes.shape


def read_codes(spec: str, flag: str) -> Any:
    """SparseCodes from `.npz` (as `csrbench encode` writes), or a dense `.npy` matrix."""
    from csrbench.codes import SparseCodes

    path = Path(spec)
    if not path.is_file():
        raise CliError(f"{flag}: no file {spec!r}; make codes with `csrbench encode`")
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if not {"indices", "values", "h"} <= set(z.files):
                raise CliError(
                    f"{flag}: {spec} is not a sparse-codes file (needs indices, values, h; has "
                    f"{z.files}); write codes with `csrbench encode --out codes.npz`"
                )
        return SparseCodes.load(path)
    x = np.asarray(read_array(spec, flag))
    if x.ndim != 2 or x.size == 0 or not np.issubdtype(x.dtype, np.number):
        raise CliError(f"{flag} {spec} must be a numeric [n, d] matrix, got shape {x.shape}")
    return x


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """`key=value` pairs, each value read as a YAML scalar (`1e-3` is a number too)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CliError(f"--param {item!r} is not key=value; e.g. --param epochs=5")
        if key in out:
            raise CliError(f"--param {key} is given twice; give each parameter once")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise CliError(f"--param {key}: {raw!r} is not a YAML value ({err})") from err
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 as a string
        out[key] = value
    return out


def _check_out_dir(out: Path, flag: str, marker: str, made_by: str) -> None:
    """The output directory is replaced as a whole: never a directory of something else."""
    if out.exists() and not out.is_dir():
        raise CliError(f"{flag} {out} is a file; give a directory path")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).exists():
        raise CliError(
            f"{flag} {out} exists and is not {made_by} (no {marker}); it would be replaced as "
            "a whole: choose a new path or remove it"
        )


def _check_model_dir(path: str, flag: str = "--model") -> Path:
    model = Path(path)
    if not (model / "config.json").is_file() or not (model / "model.safetensors").is_file():
        raise CliError(
            f"{flag} {path} is not a csrbench model directory (needs config.json and "
            "model.safetensors); make one with `csrbench fit` or `csrbench import-st`"
        )
    return model


# ---- subcommands ------------------------------------------------------------------


def cmd_fit(a: argparse.Namespace) -> int:
    from csrbench.api import validation_scores
    from csrbench.methods import fit
    from csrbench.train import write_log

    out = Path(a.out)
    _check_out_dir(out, "--out", "config.json", "a csrbench model directory")
    params = parse_params(a.param or [])
    x = read_matrix(a.train, "--train")
    pairs = read_array(a.pairs, "--pairs") if a.pairs else None
    docs = read_matrix(a.docs, "--docs") if a.docs else None
    labels = read_array(a.labels, "--labels") if a.labels else None
    val = read_matrix(a.val, "--val") if a.val else None
    if val is not None and val.shape[1] != x.shape[1]:
        raise CliError(f"--val has width {val.shape[1]}, --train has {x.shape[1]}")
    inputs = {"train": a.train, "pairs": a.pairs, "docs": a.docs, "labels": a.labels, "val": a.val}
    flags = {"x": "--train", "pairs": "--pairs", "docs": "--docs", "labels": "--labels"}
    split = embeddings_split(
        x, pairs, docs, labels, {"source": "csrbench fit", "inputs": inputs}, flags
    )
    _say(f"fitting {a.method} k={a.k} on {x.shape[0]} x {x.shape[1]} ({', '.join(split.fields)})")
    fitted = fit(a.method, a.k, split, params=params, device=a.device, seed=a.seed)
    with atomic_dir(out) as tmp:
        fitted.save(tmp)
        write_log(fitted.log, tmp / "train.tsv")
        summary: dict[str, Any] = {
            "method": fitted.method,
            "k": fitted.k,
            "d": fitted.d,
            "seed": a.seed,
            "params": params,
            "inputs": inputs,
            "n_train": {name: int(f.x.shape[0]) for name, f in split.fields.items()},
            "n_pairs": None if split.relevance is None else len(split.relevance.pairs),
            "train": fitted.summary,
        }
        if val is not None:
            _say(f"scoring on {val.shape[0]} validation rows")
            summary["val"] = validation_scores(fitted, val, tmp)
        write_json(tmp / "summary.json", summary)
    _say(f"wrote {out} (model.safetensors, config.json, train.tsv, summary.json)")
    return 0


def cmd_encode(a: argparse.Namespace) -> int:
    from csrbench.codes import SparseCodes
    from csrbench.methods import load

    out = Path(a.out)
    if out.suffix not in (".npz", ".npy"):
        raise CliError(f"--out {a.out}: write codes.npz (sparse codes) or codes.npy (dense)")
    fitted = load(_check_model_dir(a.model))
    x = read_matrix(a.input, "--input")
    if x.shape[1] != fitted.d:
        raise CliError(
            f"--input {a.input} has width {x.shape[1]} but the model was fitted on width "
            f"{fitted.d}; encode embeddings of the same model it was fitted on"
        )
    if a.k is not None and a.k <= 0:
        raise CliError(f"--k must be a positive integer, got {a.k}")
    codes = fitted.encode(x, k=a.k)
    if isinstance(codes, SparseCodes):
        if out.suffix != ".npz":
            raise CliError(f"{fitted.method} gives sparse codes: use --out {out.stem}.npz")
        codes.save(out)
        _say(f"wrote {out}: {codes.n} rows, k={codes.k} of h={codes.h}")
    else:
        if out.suffix != ".npy":
            raise CliError(f"{fitted.method} gives dense codes: use --out {out.stem}.npy")
        with atomic_path(out) as tmp:
            np.save(tmp, codes)
        _say(f"wrote {out}: {codes.shape[0]} x {codes.shape[1]} {codes.dtype}")
    return 0


def cmd_export_st(a: argparse.Namespace) -> int:
    from csrbench.sparse_encoder_export import build_sparse_encoder

    model = _check_model_dir(a.model)
    if a.backbone is not None and not Path(a.backbone).is_dir():
        raise CliError(
            f"--backbone {a.backbone}: no directory; give a sentence-transformers folder"
        )
    out = Path(a.out)
    _check_out_dir(out, "--out", "modules.json", "a sentence-transformers folder")
    encoder = build_sparse_encoder(model, a.backbone, allow_untied=a.allow_untied)
    with atomic_dir(out) as tmp:
        encoder.save(str(tmp))
    _say(f"wrote {out}: load it with sentence_transformers.SparseEncoder({str(out)!r})")
    return 0


def cmd_import_st(a: argparse.Namespace) -> int:
    from csrbench.sparse_encoder_import import import_sparse_encoder

    out = Path(a.out)
    _check_out_dir(out, "--out", "config.json", "a csrbench model directory")
    import_sparse_encoder(a.folder, out, value_dtype=a.value_dtype)
    _say(f"wrote {out}: a csrbench CSR model (csrbench encode --model {out} ...)")
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    from csrbench import metrics
    from csrbench.codes import SparseCodes
    from csrbench.retrieval import search

    codes = read_codes(a.codes, "--codes")
    n, width = _n_width(codes)
    if bool(a.queries) != bool(a.relevance):
        raise CliError("retrieval needs both --queries (query codes) and --relevance (pairs)")
    if bool(a.database) != bool(a.db_labels):
        raise CliError("--database and --db-labels go together (codes and their classes)")
    if a.database and not a.labels:
        raise CliError("--database needs --labels for the rows of --codes (the queries)")
    if not a.queries and not a.labels:
        raise CliError("nothing to evaluate: give --queries with --relevance, or --labels")

    def same_kind(other: Any, flag: str) -> int:
        if isinstance(other, SparseCodes) != isinstance(codes, SparseCodes) or (
            _n_width(other)[1] != width
        ):
            raise CliError(f"{flag} and --codes must be codes of the same model (kind and width)")
        return _n_width(other)[0]

    scores: dict[str, Any] = {}
    if a.queries:
        queries = read_codes(a.queries, "--queries")
        nq = same_kind(queries, "--queries")
        rel = np.asarray(read_array(a.relevance, "--relevance"))
        pairs = check_pairs(rel, nq, n, "--relevance")
        depth = min(100, n)
        _, ranked = search(None, metrics.l2_normalize(codes), metrics.l2_normalize(queries), depth)
        scores.update(metrics.retrieval_scores(ranked, pairs))
    if a.labels:
        y = read_labels(a.labels, "--labels", n, "--codes")
        if a.database:
            db = read_codes(a.database, "--database")
            n_db = same_kind(db, "--database")
            y_db = read_labels(a.db_labels, "--db-labels", n_db, "--database")
            scores["knn1_top1"] = metrics.nearest_neighbor_accuracy(db, y_db, codes, y)
            if not a.no_linear_probe:
                scores["linear_probe_top1"] = metrics.linear_probe_accuracy(db, y_db, codes, y)
        else:
            if n < 2:
                raise CliError("leave-one-out 1-NN needs at least two rows in --codes")
            cn = metrics.l2_normalize(codes)
            nearest = neighbours(search(None, cn, cn, 2)[1], 1)[:, 0]
            scores["knn1_loo_top1"] = float((y[nearest] == y).mean())
    result = {
        "codes": a.codes,
        "n": int(n),
        "sparse": isinstance(codes, SparseCodes),
        "width": int(width),
        "k": codes.k if isinstance(codes, SparseCodes) else None,
        "metrics": {k: v.item() if isinstance(v, np.generic) else v for k, v in scores.items()},
    }
    if a.out:
        write_json(a.out, result)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


# ---- parser -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="csrbench",
        description="Fit CSR (or any csrbench method) on your own embeddings, encode, "
        "evaluate, and move models to and from sentence-transformers.",
        epilog="Array files: .npy, .npz (file.npz:key), .parquet (file.parquet:column).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    f = sub.add_parser("fit", help="fit a method on embeddings; writes a model directory")
    f.add_argument("--method", default="csr", help="csr (default), sae, csr-v2, mrl, pca, ...")
    f.add_argument("--k", type=int, default=32, help="budget: active dims per row (32)")
    f.add_argument("--train", required=True, help="training embeddings [n, d] (the queries)")
    f.add_argument("--pairs", help="int [m, 2] (row of --train, row of --docs): positives")
    f.add_argument("--docs", help="doc embeddings [n_doc, d]; alone: row-aligned with --train")
    f.add_argument("--labels", help="int [n] class of each --train row (single field only)")
    f.add_argument("--val", help="validation embeddings [n_val, d]: scores in summary.json")
    f.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="method parameter, value read as YAML (repeatable): --param epochs=5",
    )
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:N")
    f.add_argument("--out", required=True, help="model directory to write")
    f.set_defaults(run=cmd_fit)

    e = sub.add_parser("encode", help="encode embeddings with a fitted model")
    e.add_argument("--model", required=True, help="model directory (fit / import-st)")
    e.add_argument("--input", required=True, help="embeddings [n, d] to encode")
    e.add_argument("--k", type=int, help="budget to encode at (default: the fitted k)")
    e.add_argument("--out", required=True, help="codes.npz (sparse) or codes.npy (dense)")
    e.set_defaults(run=cmd_encode)

    x = sub.add_parser("export-st", help="write a CSR model as a sentence-transformers folder")
    x.add_argument("--model", required=True, help="CSR model directory")
    x.add_argument("--backbone", help="sentence-transformers folder (default: all-MiniLM-L6-v2)")
    x.add_argument("--allow-untied", action="store_true", help="export an untied CSR anyway")
    x.add_argument("--out", required=True, help="SparseEncoder folder to write")
    x.set_defaults(run=cmd_export_st)

    i = sub.add_parser("import-st", help="read a SparseEncoder's CSR layer as a csrbench model")
    i.add_argument("folder", help="SparseEncoder folder with a SparseAutoEncoder module")
    i.add_argument("--out", required=True, help="model directory to write")
    i.add_argument("--value-dtype", default="float16", choices=["float16", "float32"])
    i.set_defaults(run=cmd_import_st)

    v = sub.add_parser("eval", help="retrieval / 1-NN / linear-probe metrics on codes")
    v.add_argument("--codes", required=True, help="codes of the docs (retrieval) or the queries")
    v.add_argument("--queries", help="query codes (retrieval against --codes)")
    v.add_argument("--relevance", help="int [m, 2] (query row, doc row) or [m, 3] with a grade")
    v.add_argument("--labels", help="int [n] class of each --codes row")
    v.add_argument("--database", help="database codes for 1-NN / linear probe (else leave-one-out)")
    v.add_argument("--db-labels", help="int class of each --database row")
    v.add_argument("--no-linear-probe", action="store_true", help="skip the linear probe")
    v.add_argument("--out", help="also write the JSON here")
    v.set_defaults(run=cmd_eval)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) and argparse's own usage errors (2)
        return int(stop.code or 0)
    try:
        return int(args.run(args))
    except (ValueError, KeyError, FileNotFoundError) as err:
        if os.environ.get("CSRBENCH_DEBUG"):
            raise
        msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"csrbench {args.command}: error: {' '.join(str(msg).split())}", file=sys.stderr)
        return 2
