"""The `csrbench` command: fit -> encode -> eval on plain files, its metrics against an
independent computation, file formats, bad input (exit 2, one line naming the problem),
the console entry point, and the worked example config for your own embeddings."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from csrbench.cli import main, parse_params, read_array
from csrbench.codes import SparseCodes
from csrbench.config import validate_config
from csrbench.methods import load

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--param", "epochs=1", "--param", "batch_size=64", "--param", "progress=false"]
SMALL = [*FAST, "--param", "h=64", "--param", "k_aux=16"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Two classes' worth of 16-d embeddings, queries paired with docs, as .npy files."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(192, 16)).astype(np.float32)
    docs = (x + 0.1 * rng.normal(size=x.shape)).astype(np.float32)
    out = {
        "x": x,
        "docs": docs,
        "y": (np.arange(192) % 3).astype(np.int64),
        "pairs": np.stack([np.arange(192), np.arange(192)], axis=1),
        "val": rng.normal(size=(40, 16)).astype(np.float32),
    }
    paths = {}
    for name, arr in out.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], arr)
    return paths


def _run(*args: object) -> int:
    return main([str(a) for a in args])


def test_fit_encode_match_load(files, tmp_path):
    model = tmp_path / "model"
    assert (
        _run("fit", "--k", 4, "--train", files["x"], "--val", files["val"], *SMALL, "--out", model)
        == 0
    )
    assert sorted(p.name for p in model.iterdir()) == [
        "config.json",
        "model.safetensors",
        "summary.json",
        "train.tsv",
    ]
    summary = json.loads((model / "summary.json").read_text())
    assert summary["method"] == "csr" and summary["k"] == 4 and summary["d"] == 16
    assert summary["n_train"] == {"embedding": 192}
    assert {"knn_overlap@10", "recon_mse", "recon_fvu"} <= set(summary["val"])
    log = (model / "train.tsv").read_text().splitlines()
    assert len(log) == 1 + summary["train"]["steps"]  # header + one row per step

    x = np.load(files["x"])
    reference = load(model).encode(x)
    for k, expect in ((None, reference), (2, load(model).encode(x, k=2))):
        out = tmp_path / f"codes{k}.npz"
        assert (
            _run(
                "encode",
                "--model",
                model,
                "--input",
                files["x"],
                "--out",
                out,
                *(["--k", k] if k else []),
            )
            == 0
        )
        codes = SparseCodes.load(out)
        assert codes.k == (k or 4) and codes.n == 192
        assert ((codes.values > 0).sum(axis=1) == codes.k).all()  # k non-zeros per row
        np.testing.assert_array_equal(codes.indices, expect.indices)
        np.testing.assert_array_equal(codes.values, expect.values)


def test_fit_on_pairs_with_params(files, tmp_path):
    model = tmp_path / "model"
    args = ["--train", files["x"], "--docs", files["docs"], "--pairs", files["pairs"]]
    extra = ["--param", "temperature=0.05", "--param", "init_pre_bias=mean"]
    assert _run("fit", "--k", 4, *args, *SMALL, *extra, "--out", model) == 0
    cfg = json.loads((model / "config.json").read_text())
    assert cfg["params"]["fields"] == ["query", "doc"]
    assert cfg["params"]["temperature"] == 0.05 and cfg["params"]["init_pre_bias"] == "mean"
    assert cfg["params"]["positives"] == "pairs"
    assert json.loads((model / "summary.json").read_text())["n_pairs"] == 192
    # a rerun replaces a model directory it wrote
    assert _run("fit", "--k", 4, *args, *SMALL, "--out", model) == 0


def test_dense_method_writes_npy(files, tmp_path):
    model = tmp_path / "pca"
    assert _run("fit", "--method", "pca", "--k", 5, "--train", files["x"], "--out", model) == 0
    out = tmp_path / "pca.npy"
    assert _run("encode", "--model", model, "--input", files["x"], "--out", out) == 0
    np.testing.assert_array_equal(np.load(out), load(model).encode(np.load(files["x"])))


def test_parse_params():
    got = parse_params(
        [
            "temperature=0.05",
            "init_pre_bias=mean",
            "lr=1e-3",
            "max_steps=null",
            "betas=[0.9, 0.99]",
            "tied=false",
            "epochs=3",
        ]
    )
    assert got == {
        "temperature": 0.05,
        "init_pre_bias": "mean",
        "lr": 0.001,
        "max_steps": None,
        "betas": [0.9, 0.99],
        "tied": False,
        "epochs": 3,
    }
    assert isinstance(got["epochs"], int)


def test_array_formats(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.savez(tmp_path / "one.npz", emb=x)
    np.savez(tmp_path / "two.npz", emb=x, other=x[:, :1])
    pd.DataFrame({"id": [1, 2, 3, 4], "emb": list(x)}).to_parquet(tmp_path / "list.parquet")
    pd.DataFrame(x, columns=["a", "b", "c"]).assign(id=[1, 2, 3, 4]).to_parquet(
        tmp_path / "cols.parquet"
    )
    for spec in ("one.npz", "two.npz:emb", "list.parquet", "list.parquet:emb", "cols.parquet"):
        np.testing.assert_array_equal(read_array(str(tmp_path / spec), "--train"), x, err_msg=spec)
    np.testing.assert_array_equal(
        read_array(str(tmp_path / "cols.parquet:id"), "--labels"), [1, 2, 3, 4]
    )
    with pytest.raises(ValueError, match=r"holds arrays \['emb', 'other'\]; name one"):
        read_array(str(tmp_path / "two.npz"), "--train")
    with pytest.raises(ValueError, match=r"no array 'nope'"):
        read_array(str(tmp_path / "two.npz:nope"), "--train")


def _one_line_error(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["fit", "--train", "{tmp}/missing.npy"], r"fit: error: --train: no file .*missing\.npy"),
        (["fit", "--train", "{y}"], r"--train .* 2-D embedding matrix \[n, d\]"),
        (
            ["fit", "--train", "{x}", "--pairs", "{pairs}"],
            r"--pairs holds .* pass them with --docs",
        ),
        (
            ["fit", "--train", "{x}", "--docs", "{docs}", "--pairs", "{bad_pairs}"],
            r"--pairs column 1 must index doc rows 0\.\.191, found 500",
        ),
        (["fit", "--method", "nope", "--train", "{x}"], r"unknown method 'nope'; choose one of"),
        (
            ["fit", "--train", "{x}", "--param", "tempreature=0.1"],
            r"tempreature = 0.1 is not accepted.*did you mean 'temperature'",
        ),
        (["fit", "--train", "{x}", "--param", "epochs"], r"--param 'epochs' is not key=value"),
        (
            ["fit", "--train", "{x}", "--labels", "{short}"],
            r"--labels must be a 1-D integer array .* \(192\)",
        ),
        (["fit", "--train", "{x}", "--val", "{wide}"], r"--val has width 17, --train has 16"),
        (
            ["fit", "--train", "{x}", "--out", "{tmp}"],
            r"is not a csrbench model directory .* choose a new path",
        ),
        (["fit", "--train", "{x}", "--device", "tpu"], r"device 'tpu' is not understood"),
        (
            ["encode", "--model", "{tmp}", "--input", "{x}"],
            r"--model .* is not a csrbench model directory",
        ),
        (
            ["encode", "--model", "{model}", "--input", "{wide}"],
            r"--input .* width 17 .* fitted on width 16",
        ),
        (
            ["encode", "--model", "{model}", "--input", "{x}", "--out", "{tmp}/c.npy"],
            r"sparse codes: use --out c\.npz",
        ),
        (
            ["encode", "--model", "{model}", "--input", "{x}", "--out", "{tmp}/c.txt"],
            r"write codes\.npz .* or codes\.npy",
        ),
        (["eval", "--codes", "{codes}"], r"nothing to evaluate"),
        (
            ["eval", "--codes", "{codes}", "--queries", "{codes}"],
            r"needs both --queries .* and --relevance",
        ),
        (
            ["eval", "--codes", "{codes}", "--labels", "{short}"],
            r"--labels .* one class per row of --codes \(192\)",
        ),
        (
            ["eval", "--codes", "{codes}", "--queries", "{x}", "--relevance", "{pairs}"],
            r"--queries and --codes must be codes of the same model",
        ),
        (
            ["eval", "--codes", "{x}", "--queries", "{x}", "--relevance", "{bad_pairs}"],
            r"--relevance column 1 .* found 500",
        ),
        (
            ["import-st", "{tmp}/nowhere", "--out", "{tmp}/m"],
            r"import-st: error: no directory .*nowhere",
        ),
    ],
)
def test_bad_input_exits_2(args, match, files, tmp_path, capsys):
    np.save(tmp_path / "bad_pairs.npy", np.array([[0, 1], [3, 500]]))
    np.save(tmp_path / "short.npy", np.arange(10))
    np.save(tmp_path / "wide.npy", np.zeros((5, 17), np.float32))
    (tmp_path / "junk.txt").write_text("not a model")
    model = tmp_path / "m"
    if any("{model}" in a or "{codes}" in a for a in args):
        assert _run("fit", "--k", 4, "--train", files["x"], *SMALL, "--out", model) == 0
        assert (
            _run("encode", "--model", model, "--input", files["x"], "--out", tmp_path / "c.npz")
            == 0
        )
    subst = {
        **{k: str(v) for k, v in files.items()},
        "tmp": str(tmp_path),
        "model": str(model),
        "codes": str(tmp_path / "c.npz"),
        "bad_pairs": str(tmp_path / "bad_pairs.npy"),
        "short": str(tmp_path / "short.npy"),
        "wide": str(tmp_path / "wide.npy"),
    }
    argv = [a.format(**subst) for a in args]
    if argv[0] == "fit" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "fresh")]
    if argv[0] == "encode" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "fresh.npz")]
    capsys.readouterr()
    assert main(argv) == 2
    assert re.search(match, _one_line_error(capsys)), match
    assert not (tmp_path / "fresh").exists() and not (tmp_path / "fresh.npz").exists()


def test_argparse_errors_and_help(capsys):
    assert main(["fit"]) == 2  # --train and --out are required
    assert "required" in capsys.readouterr().err
    assert main(["encode", "--help"]) == 0
    assert "--model" in capsys.readouterr().out


# ---- eval against independent computations ----------------------------------------


def _cosine_rank(db: np.ndarray, q: np.ndarray) -> np.ndarray:
    db = db / np.linalg.norm(db, axis=1, keepdims=True)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    return np.argsort(-(q @ db.T), axis=1, kind="stable")


def _eval(capsys, *args) -> dict:
    capsys.readouterr()
    assert _run("eval", *args) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_retrieval_matches_numpy(tmp_path, capsys):
    rng = np.random.default_rng(1)
    docs = rng.normal(size=(30, 8)).astype(np.float32)
    queries = (docs[:12] + 0.9 * rng.normal(size=(12, 8))).astype(np.float32)
    rel = np.stack([np.arange(12), np.arange(12)], axis=1)
    rel = np.concatenate([rel, [[0, 20], [5, 29]]])  # two queries with two relevant docs
    for name, arr in (("d", docs), ("q", queries), ("r", rel)):
        np.save(tmp_path / f"{name}.npy", arr)
    out = tmp_path / "m.json"
    res = _eval(
        capsys,
        "--codes",
        tmp_path / "d.npy",
        "--queries",
        tmp_path / "q.npy",
        "--relevance",
        tmp_path / "r.npy",
        "--out",
        out,
    )
    assert json.loads(out.read_text()) == res
    ranked = _cosine_rank(docs, queries)
    relevant = [set(rel[rel[:, 0] == i, 1]) for i in range(12)]
    hits = np.array([[d in relevant[i] for d in ranked[i]] for i in range(12)])
    n_rel = np.array([len(r) for r in relevant])
    m = res["metrics"]
    assert m["recall@1"] == pytest.approx(np.mean(hits[:, :1].sum(1) / n_rel))
    assert m["recall@10"] == pytest.approx(np.mean(hits[:, :10].sum(1) / n_rel))
    disc = 1 / np.log2(np.arange(2, 12))
    dcg = (hits[:, :10] * disc).sum(1)
    ideal = np.array([disc[: min(r, 10)].sum() for r in n_rel])
    assert m["ndcg@10"] == pytest.approx(np.mean(dcg / ideal))
    first = np.array([1 / (np.argmax(h[:10]) + 1) if h[:10].any() else 0 for h in hits])
    assert m["mrr@10"] == pytest.approx(first.mean())
    assert m["n_queries"] == 12 and res["sparse"] is False and res["width"] == 8


def test_eval_labels_match_numpy_and_sklearn(tmp_path, capsys):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(2)
    centres = rng.normal(size=(3, 6))
    y_db, y_q = rng.integers(0, 3, 60), rng.integers(0, 3, 25)
    db = (centres[y_db] + 1.2 * rng.normal(size=(60, 6))).astype(np.float32)
    q = (centres[y_q] + 1.2 * rng.normal(size=(25, 6))).astype(np.float32)
    for name, arr in (("db", db), ("q", q), ("ydb", y_db), ("yq", y_q)):
        np.save(tmp_path / f"{name}.npy", arr)
    res = _eval(
        capsys,
        "--codes",
        tmp_path / "q.npy",
        "--labels",
        tmp_path / "yq.npy",
        "--database",
        tmp_path / "db.npy",
        "--db-labels",
        tmp_path / "ydb.npy",
    )
    knn = (y_db[_cosine_rank(db, q)[:, 0]] == y_q).mean()
    assert res["metrics"]["knn1_top1"] == pytest.approx(knn)
    scaler = StandardScaler(with_mean=False).fit(db)
    clf = LogisticRegression(C=1.0, max_iter=1000, random_state=0).fit(scaler.transform(db), y_db)
    probe = (clf.predict(scaler.transform(q)) == y_q).mean()
    assert res["metrics"]["linear_probe_top1"] == pytest.approx(probe)
    assert 0.2 < knn < 1.0  # a case where the numbers say something

    # leave-one-out 1-NN without a database, on sparse codes
    codes = SparseCodes(
        indices=np.argsort(-db, axis=1)[:, :3].astype(np.int16),
        values=np.abs(np.sort(-db, axis=1)[:, :3]).astype(np.float32) + 0.1,
        h=6,
    )
    codes.save(tmp_path / "c.npz")
    res = _eval(capsys, "--codes", tmp_path / "c.npz", "--labels", tmp_path / "ydb.npy")
    dense = codes.to_dense()
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    sim = dense @ dense.T
    np.fill_diagonal(sim, -np.inf)
    loo = (y_db[np.argmax(sim, axis=1)] == y_db).mean()
    assert res["metrics"]["knn1_loo_top1"] == pytest.approx(loo)
    assert res["sparse"] is True and res["k"] == 3 and res["width"] == 6


# ---- the console entry point and the example config --------------------------------


def test_python_m_csrbench_help():
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "csrbench", "--help"], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
    for cmd in ("fit", "encode", "eval", "export-st", "import-st"):
        assert cmd in run.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "csrbench",
            "encode",
            "--model",
            "/nowhere",
            "--input",
            "x.npy",
            "--out",
            "c.npz",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("csrbench encode: error: --model /nowhere")


def _demo_snippet() -> str:
    """The demo-data code block of docs/your-own-embeddings.md."""
    text = (ROOT / "docs" / "your-own-embeddings.md").read_text()
    block = re.search(r"<!-- demo-data -->\s*```python\n(.*?)```", text, re.S)
    assert block, "the docs lost their demo-data block"
    return block.group(1)


def test_example_config_validates_on_the_documented_demo_data(tmp_path, monkeypatch):
    """The docs' demo snippet writes exactly the files the example config names: run it in
    a scratch directory, then validate the config unchanged from there (paths resolve
    against the working directory, as under snakemake) and load every split."""
    from csrbench.data.precomputed import load as load_precomputed

    config = yaml.safe_load((ROOT / "config" / "examples" / "precomputed.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"does not exist"):
        validate_config(copy.deepcopy(config))  # nothing there yet: the check is real
    exec(compile(_demo_snippet(), "demo-data", "exec"), {"__name__": "demo"})
    checked = validate_config(config)
    for name, ds in checked["datasets"].items():
        for split in ("train", "test"):
            got = load_precomputed(split, name=name, **ds["params"])
            assert got.fields, (name, split)
            if got.relevance is not None:
                assert (got.relevance.source, got.relevance.target) == ("query", "doc")
            else:
                assert got.fields["image"].labels is not None
    assert {e["backbone"] for e in checked["experiments"].values()} == {"mine"}
    assert checked["backbones"]["mine"]["type"] == "precomputed"
