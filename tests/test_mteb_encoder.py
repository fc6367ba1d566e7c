"""CSR and MRL as encoders inside the real `mteb`, on a retrieval task built here.

The task's data is real text (pycode: docstring -> function source from the installed
`email` and `logging` packages) written in mteb's own on-disk format, a Hugging Face
dataset repository (parquet files plus README `configs:` for corpus, queries and
qrels), which mteb's own loader reads from a local path. CSR and MRL are fitted for a
few steps on real MiniLM embeddings of those texts (the point is agreement, not
quality), then mteb evaluates them through `CodeEncoder` and its nDCG@10 is compared
with csrbench's metric computed on codes made without mteb (backbone.embed ->
FittedMethod.encode -> exact search -> retrieval_scores).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datasets import Dataset
from mteb.abstasks import AbsTaskRetrieval
from mteb.abstasks.task_metadata import TaskMetadata

from csrbench import methods
from csrbench.backbones import build_backbone
from csrbench.data import load_split
from csrbench.data.base import Field, Relevance
from csrbench.extract import extract_split
from csrbench.metrics.knn import l2_normalize
from csrbench.metrics.retrieval import retrieval_scores
from csrbench.mteb_encoder import (
    CodeEncoder,
    EncoderInputError,
    cli,
    evaluate,
    get_task,
    load_backbone_spec,
    main,
)
from csrbench.retrieval import search
from csrbench.store import load_split as load_embeddings

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
K = 32

README = """---
configs:
- config_name: corpus
  data_files:
  - split: corpus
    path: corpus.parquet
- config_name: queries
  data_files:
  - split: queries
    path: queries.parquet
- config_name: default
  data_files:
  - split: test
    path: qrels/test.parquet
---
"""


class PycodeRetrieval(AbsTaskRetrieval):
    """A user's own retrieval task: metadata here, data from `--task-dir`."""

    metadata = TaskMetadata(
        type="Retrieval",
        name="CsrbenchPycodeRetrieval",
        main_score="ndcg_at_10",
        description="Docstring -> function retrieval over installed Python source.",
        reference="https://github.com/embeddings-benchmark/mteb",
        dataset={"path": "NA", "revision": "NA"},
        category="t2t",
        eval_splits=["test"],
        eval_langs=["eng-Latn"],
        date=("2024-01-01", "2024-01-02"),
        dialect=[],
        domains=[],
        task_subtypes=[],
        license="cc-by-4.0",
        annotations_creators="derived",
        modalities=["text"],
        sample_creation="found",
        bibtex_citation="",
    )


def write_task_dir(root: Path, queries: list[str], docs: list[str]) -> None:
    """Query i is answered by doc i, in a HF dataset repo layout mteb loads."""
    (root / "qrels").mkdir(parents=True)
    Dataset.from_list(
        [{"_id": f"d-{i}", "title": "", "text": t} for i, t in enumerate(docs)]
    ).to_parquet(str(root / "corpus.parquet"))
    Dataset.from_list([{"_id": f"q-{i}", "text": t} for i, t in enumerate(queries)]).to_parquet(
        str(root / "queries.parquet")
    )
    Dataset.from_list(
        [{"query-id": f"q-{i}", "corpus-id": f"d-{i}", "score": 1} for i in range(len(queries))]
    ).to_parquet(str(root / "qrels" / "test.parquet"))
    (root / "README.md").write_text(README)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import datasets

    tmp = tmp_path_factory.mktemp("mteb_encoder")
    with pytest.MonkeyPatch.context() as patch:
        # datasets caches what it reads from a local dataset path: keep that out of ~
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp / "hf_datasets")
        yield build_setup(tmp)


def build_setup(tmp: Path) -> dict[str, Any]:
    """Real pycode texts as an mteb task on disk, their MiniLM embeddings, CSR and MRL."""
    split = load_split(
        "pycode", "test", {"include_stdlib": False, "packages": ["email", "logging"]}
    )
    queries = [str(t) for t in split.fields["query"].items]
    docs = [str(t).strip() for t in split.fields["doc"].items]  # mteb strips documents
    n = len(docs)
    split = type(split)(
        dataset="pycode",
        split="test",
        fields={
            "query": Field("query", "text", queries, np.array([f"q-{i}" for i in range(n)])),
            "doc": Field("doc", "text", docs, np.array([f"d-{i}" for i in range(n)])),
        },
        relevance=Relevance("query", "doc", np.array([[i, i, 1] for i in range(n)])),
    )
    task_dir = tmp / "pycode_task"
    write_task_dir(task_dir, queries, docs)

    entry = load_backbone_spec(CONFIG, "minilm")
    backbone = build_backbone(entry["spec"], device="cpu")
    emb_dir = tmp / "emb"
    extract_split(split, backbone, emb_dir, tmp / "resume", batch_size=64, progress=False)
    emb = load_embeddings(emb_dir)
    quick = {"batch_size": 32, "epochs": 20, "progress": False}
    models = {}
    for method, k in (("csr", K), ("mrl", None)):
        fitted = methods.fit(method, k, emb, quick, device="cpu", seed=0)
        fitted.save(tmp / method)
        models[method] = tmp / method
    return {
        "tmp": tmp,
        "task_dir": task_dir,
        "backbone": backbone,
        "emb": emb,
        "relevance": split.relevance,
        "queries": queries,
        "models": models,
        "n": n,
    }


def csrbench_scores(setup: dict[str, Any], fitted: methods.FittedMethod, k: int) -> dict:
    """Scores without mteb: stored embeddings -> codes -> exact search -> our metric."""
    q = fitted.encode(np.asarray(setup["emb"].field("query").x), k=k)
    d = fitted.encode(np.asarray(setup["emb"].field("doc").x), k=k)
    _, ids = search(None, l2_normalize(d), l2_normalize(q), 10)
    return retrieval_scores(ids, setup["relevance"], recall_at=(1, 10), ndcg_at=(10,))


def mteb_scores(setup: dict[str, Any], method: str, k: int) -> tuple[dict, CodeEncoder]:
    fitted = methods.load(setup["models"][method])
    encoder = CodeEncoder(
        setup["backbone"], fitted, k, backbone_name="minilm", model_dir=setup["models"][method]
    )
    task = get_task(f"{__name__}:PycodeRetrieval", setup["task_dir"])
    (result,) = evaluate(encoder, task).task_results
    (scores,) = result.scores["test"]
    return scores, encoder


@pytest.mark.parametrize(("method", "k"), [("csr", K), ("mrl", 8)])
def test_mteb_ndcg_equals_csrbench_metric(setup: dict[str, Any], method: str, k: int) -> None:
    scores, encoder = mteb_scores(setup, method, k)
    for key in ("ndcg_at_10", "recall_at_10", "mrr_at_10", "main_score"):
        assert key in scores
    assert scores["main_score"] == scores["ndcg_at_10"]
    ours = csrbench_scores(setup, encoder.fitted, k)
    for name, mine in (
        ("ndcg_at_10", "ndcg@10"),
        ("mrr_at_10", "mrr@10"),
        ("recall_at_1", "recall@1"),
    ):
        print(f"{method} k={k} {name}: mteb {scores[name]:.6f}, csrbench {ours[mine]:.6f}")
        assert scores[name] == pytest.approx(ours[mine], abs=1e-4)
    assert 0.2 < ours["ndcg@10"] < 1.0  # a real ranking, neither random (~0.05) nor trivial
    meta = encoder.mteb_model_meta
    assert meta.name == f"csrbench/minilm-{method}-k{k}"
    assert meta.embed_dim == encoder.dim and meta.n_parameters > 22_000_000
    assert len(meta.revision) == 12


def test_vectors_are_the_codes(setup: dict[str, Any]) -> None:
    """CSR: h wide with at most (almost always exactly) k non-zeros; MRL: the first m = k
    dims of the head. Both equal FittedMethod.encode on the backbone's embeddings."""
    texts = setup["queries"][:20]
    x = np.asarray(setup["emb"].field("query").x[:20])  # the backbone's, stored by extract

    csr = CodeEncoder(setup["backbone"], methods.load(setup["models"]["csr"]), K)
    v = csr.encode_texts(texts, "query")
    assert v.dtype == np.float32 and v.shape == (20, csr.fitted.h) == (20, 4 * 384)
    nnz = (v != 0).sum(axis=1)
    assert nnz.max() <= K and np.mean(nnz == K) >= 0.9
    np.testing.assert_array_equal(v, csr.fitted.encode(x, k=K).to_dense())

    mrl = CodeEncoder(setup["backbone"], methods.load(setup["models"]["mrl"]), 16)
    m = mrl.encode_texts(texts, "query")
    assert m.dtype == np.float32 and m.shape == (20, 16)
    np.testing.assert_allclose(m, np.asarray(mrl.fitted.encode(x, k=16), dtype=np.float32))


def test_cli_registered_task_from_local_copy(setup: dict[str, Any]) -> None:
    """`--task SciFact --task-dir`: a registered task read from a local dataset copy, as an
    offline user runs it; the JSON's score equals the in-process evaluation's."""
    out = setup["tmp"] / "out" / "scifact.json"
    argv = ["--backbone-config", str(CONFIG), "--backbone", "minilm", "--device", "cpu"]
    argv += ["--model", str(setup["models"]["csr"]), "--k", str(K), "--task", "SciFact"]
    argv += ["--task-dir", str(setup["task_dir"]), "--out", str(out)]
    record = main(argv)
    saved = json.loads(out.read_text())
    assert not list(out.parent.glob("*.tmp"))
    assert saved["task"] == "SciFact" and saved["k"] == K and saved["method"] == "csr"
    assert saved["dataset"]["path"] == str(setup["task_dir"].resolve())
    assert saved["width"] == 4 * 384 and saved["bytes_per_doc"] == K * 4
    fitted = methods.load(setup["models"]["csr"])
    ndcg = saved["main_score"]["test"]["default"]
    assert ndcg == record["main_score"]["test"]["default"]
    assert ndcg == pytest.approx(csrbench_scores(setup, fitted, K)["ndcg@10"], abs=1e-4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--model": "missing"}, r"model directory .*missing does not exist.*results/models/"),
        ({"--k": "16"}, r"csr fitted for k=32, but k=16 was asked.*csr/k16.*--k 32"),
        ({"--backbone": "minilmm"}, r"unknown backbone 'minilmm'.*\['effnet-lite0', 'minilm'\]"),
        ({"--backbone": "effnet-lite0"}, r"type 'timm'.*text backbone"),
        ({"--model": "mrl", "--k": None}, r"mrl, which encodes at a budget m = k: pass --k"),
        ({"--model": "mrl", "--k": "400"}, r"k=400 is outside 1\.\.384.*between 1 and 384"),
        ({"--task": "SciFactt"}, r"unknown MTEB task 'SciFactt'"),
        ({"--task-dir": "nowhere"}, r"task directory .*nowhere does not exist.*mteb/scifact"),
        ({"--split": "dev"}, r"SciFact has no eval split\(s\) \['dev'\]"),
    ],
)
def test_bad_input_names_problem_and_fix(
    setup: dict[str, Any], change: dict[str, str | None], message: str
) -> None:
    args: dict[str, str | None] = {
        "--backbone-config": str(CONFIG),
        "--backbone": "minilm",
        "--model": str(setup["models"]["csr"]),
        "--k": str(K),
        "--task": "SciFact",
        "--task-dir": str(setup["task_dir"]),
        "--out": str(setup["tmp"] / "bad.json"),
        "--device": "cpu",
    }
    for key, value in change.items():
        if key == "--model" and value in setup["models"]:
            value = str(setup["models"][value])
        elif value is not None and key in ("--model", "--task-dir"):
            value = str(setup["tmp"] / value)
        args[key] = value
    argv = [s for key, value in args.items() if value is not None for s in (key, value)]
    with pytest.raises(EncoderInputError, match=message):
        main(argv)
    assert not (setup["tmp"] / "bad.json").exists()


def test_command_line_reports_bad_input(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m csrbench.mteb_encoder` prints the problem (no traceback) and exits 2."""
    argv = ["--backbone", "minilm", "--backbone-config", str(CONFIG), "--task", "SciFact"]
    argv += ["--model", str(setup["tmp"] / "nothing"), "--out", str(setup["tmp"] / "x.json")]
    monkeypatch.setattr("sys.argv", ["csrbench.mteb_encoder", *argv])
    assert cli() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model directory") and "Traceback" not in err
