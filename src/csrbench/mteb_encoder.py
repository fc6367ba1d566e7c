"""CSR, MRL and the baselines as encoders inside the real `mteb` package.

The pipeline's own text evaluation (`csrbench.evaluate`) scores codes it stored on disk;
this module instead hands `mteb` a model, so any MTEB task (retrieval, classification,
clustering, STS, ...) runs on a fitted csrbench method with mteb's own data loading,
prompts and metrics. A text goes through the same path as in the pipeline:

    text -> backbone embedding (the config's backbone entry, as `embed` builds it)
         -> rounded to the config's `embed.dtype` (the stored training embeddings' dtype)
         -> FittedMethod.encode at budget k (values in the method's `value_dtype`)
         -> a dense float32 vector: sparse codes scattered into h dims (exactly k
            non-zero slots, fewer where ReLU zeroed a selected latent), MRL / trunc /
            pca / randfs at m = k dims, full / int8 / binary at d dims.

Similarity is cosine (`ModelMeta.similarity_fn_name`), the same as the pipeline's
retrieval on L2-normalised codes, so mteb's nDCG@10 and csrbench's agree on the same
codes (tests/test_mteb_encoder.py checks this to 1e-4).

Command line (writes one JSON atomically):

    python -m csrbench.mteb_encoder --backbone minilm \\
        --model results/models/pycode/csr/k32 --k 32 --task SciFact \\
        --out results/mteb/pycode/csr/k32/SciFact.json

`--task` is a registered MTEB task name (data from the Hugging Face hub, or its cache)
or `package.module:ClassName` for a user's own mteb `AbsTask` subclass. Offline,
`--task-dir` points at a local copy of the task's Hugging Face dataset repository (the
same files and README `configs:` as on the hub, e.g. from `huggingface-cli download
mteb/scifact --repo-type dataset --local-dir ...`); mteb then loads it with its own
loader, in place of the hub.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from mteb.models import ModelMeta
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ScoringFunction
from mteb.types import PromptType

from csrbench import methods
from csrbench.codes import SparseCodes
from csrbench.data.base import Field
from csrbench.data.mteb_task import task_from_spec

if TYPE_CHECKING:
    from mteb.abstasks import AbsTask
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.results import ModelResult
    from torch.utils.data import DataLoader

DEFAULT_CONFIG = Path("config/config.yaml")
# mteb's prompt types -> the csrbench field names a backbone's `prompts` are keyed by
# (the same texts get the same prompt here as when the pipeline embedded them).
FIELD_OF_PROMPT = {PromptType.query: "query", PromptType.document: "doc"}


class EncoderInputError(ValueError):
    """Bad input to the encoder or its command line; the message names the problem and the fix."""


# ---- inputs -------------------------------------------------------------------------


def load_backbone_spec(config_path: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """The config's `backbones.<name>` entry, plus the `embed` section's device/amp/dtype.

    Read as plain YAML (no schema validation: a config for another experiment set, or a
    hand-written one holding only `backbones:`, is enough to describe a backbone).
    """
    path = Path(config_path)
    if not path.is_file():
        raise EncoderInputError(
            f"backbone config {path} does not exist; pass --backbone-config with the pipeline's "
            "config file (e.g. config/config.yaml)"
        )
    config = yaml.safe_load(path.read_text()) or {}
    backbones = config.get("backbones") or {}
    if name not in backbones:
        raise EncoderInputError(
            f"unknown backbone {name!r} in {path}; it defines {sorted(backbones)}: pass one "
            "of those to --backbone (the backbone the model's experiment was embedded with)"
        )
    spec = dict(backbones[name])
    if spec.get("type") != "sentence-transformers":
        raise EncoderInputError(
            f"backbone {name!r} is of type {spec.get('type')!r}; MTEB tasks here need a text "
            "backbone (type sentence-transformers)"
        )
    embed = config.get("embed") or {}
    return {"spec": spec, "embed": {k: embed[k] for k in ("device", "amp", "dtype") if k in embed}}


def load_method(model_dir: str | os.PathLike[str], device: str = "cpu") -> methods.FittedMethod:
    """`methods.load`, with errors that say which directory a fitted model lives in."""
    root = Path(model_dir)
    if not (root / "config.json").is_file() or not (root / "model.safetensors").is_file():
        what = "does not exist" if not root.exists() else "has no config.json + model.safetensors"
        raise EncoderInputError(
            f"model directory {root} {what}; pass --model a finished training output, "
            "results/models/<experiment>/<method>/<k32|all> (run the workflow's train stage "
            "first, e.g. `snakemake --cores all`)"
        )
    return methods.load(root, device=device)


def resolve_budget(fitted: methods.FittedMethod, k: int | None, where: str = "") -> int | None:
    """The budget to encode at, checked against how the method was fitted.

    Per-k methods (csr, sae, csr-v2) encode only at the k they were trained for; budgeted
    methods that serve every k (mrl, trunc, pca, randfs) need a k in [1, d]; full, int8
    and binary are always d wide and take no k.
    """
    info = fitted.spec
    where = where or "the model"
    if info.per_k:
        if k is not None and k != fitted.k:
            raise EncoderInputError(
                f"{where} is {fitted.method} fitted for k={fitted.k}, but k={k} was asked; "
                f"{fitted.method} trains one model per budget: use its k{k} model "
                f"(results/models/<experiment>/{fitted.method}/k{k}) or pass --k {fitted.k}"
            )
        return fitted.k
    if info.budgeted:
        if k is None:
            raise EncoderInputError(
                f"{where} is {fitted.method}, which encodes at a budget m = k: pass --k "
                f"(1..{fitted.d})"
            )
        if not 1 <= k <= fitted.d:
            raise EncoderInputError(
                f"k={k} is outside 1..{fitted.d} for {fitted.method} on a {fitted.d}-dim "
                f"embedding; pass --k between 1 and {fitted.d}"
            )
        return k
    if k is not None:
        raise EncoderInputError(
            f"{where} is {fitted.method}, which is always {fitted.d} wide and has no budget; "
            "leave --k out"
        )
    return None


def _digest(paths: Sequence[Path], extra: Any) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:12]


# ---- the encoder --------------------------------------------------------------------


class CodeEncoder(AbsEncoder):
    """An mteb encoder: texts -> backbone embeddings -> a fitted method's codes at budget k.

    Built from objects (`backbone`, `fitted`) so tests and notebooks can wrap what they
    already hold; `from_config` builds both from the pipeline's config and model
    directory, as the command line does.
    """

    def __init__(
        self,
        backbone: Any,
        fitted: methods.FittedMethod,
        k: int | None = None,
        *,
        backbone_name: str | None = None,
        embed_dtype: str = "float32",
        batch_size: int = 64,
        model_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if "text" not in getattr(backbone, "kinds", ()):
            raise EncoderInputError(f"backbone {backbone!r} does not embed text")
        if int(backbone.dim) != fitted.d:
            raise EncoderInputError(
                f"the method was fitted on {fitted.d}-dim embeddings but the backbone gives "
                f"{backbone.dim}; pass the backbone its experiment was embedded with"
            )
        if embed_dtype not in ("float32", "float16"):
            raise EncoderInputError(f"embed dtype must be float32 or float16, got {embed_dtype!r}")
        self.model = backbone
        self.fitted = fitted
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.k = resolve_budget(fitted, k, str(self.model_dir) if self.model_dir else "")
        self.info = fitted.spec
        # mteb turns the model name into a results folder: keep it a plain token
        self.backbone_name = re.sub(
            r"[^A-Za-z0-9._-]+", "-", backbone_name or Path(str(backbone.name)).name
        )
        self.embed_dtype = embed_dtype
        self.batch_size = int(batch_size)
        self.dim = self._width()
        self.mteb_model_meta = self._meta()

    @classmethod
    def from_config(
        cls,
        model_dir: str | os.PathLike[str],
        k: int | None,
        backbone: str,
        config_path: str | os.PathLike[str] = DEFAULT_CONFIG,
        device: str | None = None,
        batch_size: int | None = None,
    ) -> CodeEncoder:
        """Backbone from the config's entry, method from `model_dir`; inputs are checked
        (backbone name, model directory, budget) before the backbone's weights load."""
        from csrbench.backbones import build_backbone

        entry = load_backbone_spec(config_path, backbone)
        fitted = load_method(model_dir)
        resolve_budget(fitted, k, str(model_dir))
        embed = entry["embed"]
        dev = device or embed.get("device", "auto")
        net = build_backbone(entry["spec"], device=dev, amp=bool(embed.get("amp", False)))
        fitted.to(net.device)
        return cls(
            net,
            fitted,
            k,
            backbone_name=backbone,
            embed_dtype=str(embed.get("dtype", "float32")),
            batch_size=batch_size or 64,
            model_dir=model_dir,
        )

    # -- metadata

    def _width(self) -> int:
        if self.info.sparse:
            return int(self.fitted.h)  # type: ignore[attr-defined]
        return self.fitted.d if self.k is None else int(self.k)

    @property
    def name(self) -> str:
        budget = f"-k{self.k}" if self.k is not None else ""
        return f"csrbench/{self.backbone_name}-{self.fitted.method}{budget}"

    def _n_parameters(self) -> int:
        net = getattr(self.model, "model", None)
        n = sum(p.numel() for p in net.parameters()) if hasattr(net, "parameters") else 0
        tensors = self.fitted.state_tensors()
        return int(n + sum(t.numel() for key, t in tensors.items() if "classifiers." not in key))

    def _revision(self) -> str:
        """A hash of the fitted files and the backbone's weights: a retrained model or
        another backbone checkpoint is another revision (mteb keys results by it)."""
        files = (
            [self.model_dir / "model.safetensors", self.model_dir / "config.json"]
            if self.model_dir is not None
            else []
        )
        prov = self.model.provenance() if hasattr(self.model, "provenance") else {}
        extra = {
            "weights": (prov.get("weights") or {}).get("sha256"),
            "preprocessing": prov.get("preprocessing"),
            "method": self.fitted.config() if not files else None,
            "k": self.k,
            "embed_dtype": self.embed_dtype,
        }
        return _digest(files, extra)

    def _meta(self) -> ModelMeta:
        prompts = getattr(self.model, "prompts", None) or {}
        return ModelMeta(
            loader=None,
            name=self.name,
            revision=self._revision(),
            release_date=None,
            languages=None,
            n_parameters=self._n_parameters(),
            memory_usage_mb=None,
            max_tokens=getattr(self.model, "max_seq_length", None),
            embed_dim=self.dim,
            license=None,
            open_weights=True,
            public_training_code=None,
            public_training_data=None,
            framework=["PyTorch", "Sentence Transformers"],
            similarity_fn_name=ScoringFunction.COSINE,
            use_instructions=bool(prompts),
            training_datasets=None,
            adapted_from=str(getattr(self.model, "name", None) or "") or None,
            model_type=["sparse"] if self.info.sparse else ["dense"],
            experiment_kwargs={
                "method": self.fitted.method,
                "k": self.k,
                "backbone": self.backbone_name,
            },
        )

    # -- encoding

    def encode_texts(self, texts: Sequence[str], field: str = "text") -> np.ndarray:
        """float32 [n, width] codes of `texts`; `field` picks the backbone's prompt."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        items = [str(t) for t in texts]
        ids = np.arange(len(items)).astype(str)
        emb = np.concatenate(
            list(self.model.embed(Field(field, "text", items, ids), self.batch_size))
        )
        # The pipeline stores training embeddings in embed.dtype; round the same way.
        emb = emb.astype(self.embed_dtype).astype(np.float32)
        codes = self.fitted.encode(emb, k=self.k)
        if isinstance(codes, SparseCodes):
            return codes.to_dense()
        return np.asarray(codes, dtype=np.float32)

    def encode(
        self,
        inputs: DataLoader[Any],
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """mteb's entry point: a DataLoader of {"text": [...], ...} batches -> codes.

        A document batch's "text" is already "title body" (mteb joins them), a query's
        "text" already carries its instruction, so only the text column is read.
        """
        if "text" not in task_metadata.get_modalities(prompt_type):
            raise EncoderInputError(
                f"{task_metadata.name} gives this encoder {task_metadata.modalities} inputs; "
                "csrbench codes wrap a text backbone, so only text tasks run"
            )
        texts: list[str] = []
        for batch in inputs:
            texts.extend(batch["text"])
        return self.encode_texts(texts, FIELD_OF_PROMPT.get(prompt_type, "text"))

    def __repr__(self) -> str:
        return f"CodeEncoder({self.name!r}, width={self.dim})"


# ---- tasks and evaluation -----------------------------------------------------------


def get_task(spec: str, task_dir: str | os.PathLike[str] | None = None) -> AbsTask:
    """A registered task by name, or `module:Class`; `task_dir` replaces its data source.

    mteb loads every task with `datasets.load_dataset(**metadata.dataset)`, so pointing
    `metadata.dataset["path"]` at a local copy of the task's dataset repository runs
    mteb's own loader (and the task's own transforms) on local files.
    """
    try:
        task = task_from_spec(spec)
    except ValueError as err:
        raise EncoderInputError(f"--task: {err}") from err
    if task_dir is not None:
        local = Path(task_dir).resolve()
        if not local.is_dir():
            raise EncoderInputError(
                f"task directory {local} does not exist; pass --task-dir a local copy of the "
                f"task's dataset repository ({task.metadata.dataset.get('path')} on the hub)"
            )
        # A subclass, not an instance attribute: mteb drops instance metadata when it
        # unloads a task's data after evaluating, which would point it back at the hub.
        base = type(task)
        local_cls = type(
            base.__name__,
            (base,),
            {
                "metadata": base.metadata.model_copy(
                    update={"dataset": {**base.metadata.dataset, "path": str(local)}}
                ),
                "__module__": base.__module__,
                "__doc__": f"{base.metadata.name} read from the local copy {local}.",
            },
        )
        task = local_cls()
    return task


def select_splits(task: AbsTask, splits: Sequence[str] | None) -> None:
    """Restrict the task to `splits` (None: all its eval splits); unknown ones are an error."""
    if not splits:
        return
    missing = sorted(set(splits) - set(task.metadata.eval_splits))
    if missing:
        raise EncoderInputError(
            f"{task.metadata.name} has no eval split(s) {missing}; it has "
            f"{task.metadata.eval_splits}: pass one of those to --split"
        )
    task.filter_eval_splits(list(splits))


def evaluate(
    encoder: CodeEncoder,
    task: AbsTask,
    splits: Sequence[str] | None = None,
    show_progress: bool = False,
) -> ModelResult:
    """Run `mteb.evaluate` once, fresh (no results cache read or written)."""
    import mteb

    select_splits(task, splits)
    return mteb.evaluate(
        encoder,
        task,
        cache=None,
        overwrite_strategy="always",
        encode_kwargs={"batch_size": encoder.batch_size, "show_progress_bar": show_progress},
        show_progress_bar=show_progress,
    )


def result_record(
    encoder: CodeEncoder, task: AbsTask, result: ModelResult, seconds: float
) -> dict[str, Any]:
    """One JSON-able record: who was evaluated on what data, mteb's scores per split and
    subset. `task` is the evaluated task object (its dataset path may be a local copy;
    `TaskResult.task` would rebuild the registered task and lose that)."""
    import mteb

    from csrbench.devices import hardware_info

    (task_result,) = result.task_results
    meta = encoder.mteb_model_meta
    assert meta is not None
    return {
        "task": task_result.task_name,
        "main_score_name": task.metadata.main_score,
        "main_score": {
            split: {s["hf_subset"]: s["main_score"] for s in scores}
            for split, scores in task_result.scores.items()
        },
        "scores": task_result.scores,
        "model": {
            "name": meta.name,
            "revision": meta.revision,
            "n_parameters": meta.n_parameters,
            "embed_dim": meta.embed_dim,
            "similarity": str(meta.similarity_fn_name),
        },
        "method": encoder.fitted.method,
        "k": encoder.k,
        "width": encoder.dim,
        "bytes_per_doc": encoder.fitted.bytes_per_doc(encoder.k),
        "model_dir": str(encoder.model_dir) if encoder.model_dir else None,
        "backbone": encoder.backbone_name,
        "backbone_provenance": encoder.model.provenance(),
        "dataset": dict(task.metadata.dataset),
        "mteb_version": mteb.__version__,
        "evaluation_time": task_result.evaluation_time,
        "seconds": seconds,
        "hardware": hardware_info(),
    }


# ---- command line -------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m csrbench.mteb_encoder",
        description="Evaluate a fitted csrbench method (CSR, MRL, ...) on an MTEB task with mteb.",
    )
    p.add_argument("--backbone-config", default=str(DEFAULT_CONFIG), help="pipeline config")
    p.add_argument("--backbone", required=True, help="backbone name in the config (e.g. minilm)")
    p.add_argument("--model", required=True, help="results/models/<experiment>/<method>/<k|all>")
    p.add_argument("--k", type=int, default=None, help="budget (per-k models: their own k)")
    p.add_argument("--task", required=True, help="MTEB task name, or module:Class")
    p.add_argument("--task-dir", default=None, help="local copy of the task's dataset repo")
    p.add_argument("--split", action="append", default=None, help="eval split (repeatable)")
    p.add_argument("--out", required=True, help="result JSON (written atomically)")
    p.add_argument("--device", default=None, help="auto|cpu|cuda (default: config embed.device)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--progress", action="store_true", help="show mteb's progress bars")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Check every input before any weights load, evaluate, write `--out`; return the record."""
    from csrbench.atomic import write_json

    args = parse_args(argv)
    if args.batch_size < 1:
        raise EncoderInputError(f"--batch-size must be >= 1, got {args.batch_size}")
    task = get_task(args.task, args.task_dir)
    select_splits(task, args.split)
    encoder = CodeEncoder.from_config(
        args.model, args.k, args.backbone, args.backbone_config, args.device, args.batch_size
    )
    start = time.perf_counter()
    result = evaluate(encoder, task, args.split, show_progress=args.progress)
    record = result_record(encoder, task, result, time.perf_counter() - start)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, record)
    return record


def cli() -> int:
    try:
        record = main()
    except EncoderInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"task": record["task"], "main_score": record["main_score"]}))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
