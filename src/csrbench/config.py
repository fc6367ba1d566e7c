"""Config validation that runs before any job, with errors a user can act on.

The workflow calls `validate_config` at parse time, so it must stay light: yaml,
jsonschema and the name registries only (no torch). JSON-schema messages are
rephrased to name the offending key as a dotted path and the allowed values, and
checks the schema cannot express (references between sections, data paths that
must exist, each method's parameters as its typed parameter class accepts them)
follow the schema.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from csrbench.finetune.params import FinetuneError, FinetuneParams
from csrbench.methods.params import EXPERIMENT_MODALITY, ParamError, build_params
from csrbench.methods.registry import REGISTRY

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The config is invalid; the message names the key and what would be accepted."""


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def validate_config(config: dict[str, Any], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a copy of `config` with defaults filled in, or raise ConfigError."""
    schema = schema or load_schema()
    config = copy.deepcopy(config)
    config.setdefault("embed", {})
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=_error_rank)
    if errors:
        raise ConfigError(_describe(errors[0], schema))
    _fill_defaults(config, schema)
    _check_references(config)
    _check_methods(config)
    _check_tuning(config)
    _check_corpus(config)
    _check_finetune(config)
    _check_imports(config)
    _check_paths(config)
    return _sorted(config)


def _sorted(value: Any) -> Any:
    """Mappings with sorted keys, recursively.

    Rules pass config sections as `params`, which Snakemake compares between runs to
    decide what to rerun; its comparison is order-sensitive, so without a canonical
    order, merely reordering keys in the YAML would rerun every job."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def _error_rank(error: jsonschema.ValidationError) -> tuple[int, int]:
    # Deepest, most specific error first: it is the one a user can fix.
    return (-len(error.absolute_path), 0 if error.validator != "if" else 1)


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: jsonschema.ValidationError, schema: dict[str, Any]) -> str:
    where = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted((error.schema.get("properties") or {}).keys())
        extra = sorted(set(error.instance) - set(allowed))
        keys = ", ".join(f"{where}.{e}" if error.absolute_path else e for e in extra)
        hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
        return f"config: unknown key {keys}{hint}"
    if error.validator == "enum":
        return (
            f"config: {where} = {error.instance!r} is not allowed; "
            f"choose one of: {', '.join(map(str, error.validator_value))}"
        )
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"config: {where} must be of type {expected}, got {error.instance!r}"
    if error.validator == "required":
        return f"config: {where}: {error.message}"
    return f"config: {where}: {error.message}"


def _fill_defaults(config: dict[str, Any], schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    for section in ("embed", "train", "evaluate"):
        config.setdefault(section, {})
        for key, prop in defs[section]["properties"].items():
            config[section].setdefault(key, copy.deepcopy(prop["default"]))
    for key, prop in defs["scaling"]["properties"].items():  # the one nested section
        config["evaluate"]["scaling"].setdefault(key, copy.deepcopy(prop["default"]))
    for exp in config["experiments"].values():
        for key, prop in defs["experiment"]["properties"].items():
            if "default" in prop:
                exp.setdefault(key, copy.deepcopy(prop["default"]))
    for exp in config["experiments"].values():
        for section in ("tune", "finetune"):
            for key, prop in defs[section]["properties"].items():
                exp[section].setdefault(key, copy.deepcopy(prop["default"]))
    validation = defs["dataset"]["properties"]["validation"]
    for ds in config["datasets"].values():
        ds.setdefault("params", {})
        ds.setdefault("validation", copy.deepcopy(validation["default"]))
        if ds["validation"] is not None:
            for key, prop in validation["properties"].items():
                ds["validation"].setdefault(key, prop["default"])


def _check_references(config: dict[str, Any]) -> None:
    for name, exp in config["experiments"].items():
        for section in ("dataset", "backbone"):
            defined = config[f"{section}s"]
            if exp[section] not in defined:
                raise ConfigError(
                    f"config: experiments.{name}.{section} = {exp[section]!r} is not defined "
                    f"under {section}s; defined: {', '.join(sorted(defined))}"
                )


def _check_methods(config: dict[str, Any]) -> None:
    """Every listed method is registered and every `method_params` entry builds: a typo in
    a key, a value outside the choices or a bad range fails here, not in a training job."""
    for name, exp in config["experiments"].items():
        where = f"experiments.{name}"
        for i, method in enumerate(exp["methods"]):
            if method not in REGISTRY:
                raise ConfigError(
                    f"config: {where}.methods.{i} = {method!r} is not a registered method; "
                    f"choose one of: {', '.join(REGISTRY)}"
                )
        modality = EXPERIMENT_MODALITY[exp["modality"]]
        for method in exp["methods"]:
            objective = exp["method_params"].get(method, {}).get("objective", "auto")
            pairs_only = modality == "multimodal" and objective == "auto"
            if REGISTRY[method].shared_classifier and (
                pairs_only or objective not in ("auto", "labels")
            ):
                raise ConfigError(
                    f"config: {where}.methods lists {method}, which differs from mrl only by "
                    "a weight-shared classifier that only the labels objective has; this "
                    f"experiment trains on {'pairs' if pairs_only else objective}, where it "
                    "would duplicate mrl: drop it"
                )
        for method, overrides in exp["method_params"].items():
            if method not in REGISTRY:
                raise ConfigError(
                    f"config: {where}.method_params.{method}: not a registered method; "
                    f"choose one of: {', '.join(REGISTRY)}"
                )
            try:
                build_params(method, modality, overrides)
            except ParamError as err:
                raise ConfigError(
                    "config: " + err.describe(f"{where}.method_params.{method}.")
                ) from None


# Loaders whose splits carry no query->doc relevance: a retrieval corpus cannot grow there.
NO_QUERY_DOC = frozenset({"digits", "imagefolder", "captions"})


def _check_corpus(config: dict[str, Any]) -> None:
    """`corpus: all` adds documents to query->doc retrieval; on image or image-text data
    it would silently change nothing, so it is an error at dry run."""
    for name, exp in config["experiments"].items():
        loader = config["datasets"][exp["dataset"]]["loader"]
        if exp["corpus"] == "all" and loader in NO_QUERY_DOC:
            raise ConfigError(
                f"config: experiments.{name}.corpus = 'all' grows the database of query->doc "
                f"retrieval, which dataset {exp['dataset']!r} (loader {loader}) does not have: "
                "set corpus: eval"
            )


# Backbone types the Matryoshka fine-tune trains, per experiment modality.
FINETUNE_TYPES = {"text": "sentence-transformers", "image": "timm"}


def _check_finetune(config: dict[str, Any]) -> None:
    """mrl-ft needs a fine-tune it can run (a text or image backbone of the type that
    modality trains, a validation split to choose its checkpoint, a recipe whose
    checkpoints fall on distinct steps) or a defined MRL-trained backbone to read."""
    for name, exp in config["experiments"].items():
        if not any(REGISTRY[m].finetuned for m in exp["methods"]):
            continue
        where = f"config: experiments.{name}.finetune"
        ft = exp["finetune"]
        if ft["backbone"] is not None:
            if ft["backbone"] not in config["backbones"]:
                raise ConfigError(
                    f"{where}.backbone = {ft['backbone']!r} is not defined under backbones; "
                    f"defined: {', '.join(sorted(config['backbones']))}"
                )
            continue
        btype = config["backbones"][exp["backbone"]]["type"]
        if FINETUNE_TYPES.get(exp["modality"]) != btype:
            raise ConfigError(
                f"config: experiments.{name}.methods lists mrl-ft, whose fine-tune trains "
                "sentence-transformers backbones on text and timm backbones on images, not a "
                f"{btype} backbone on {exp['modality']}: set {where[8:]}.backbone to a "
                "backbone trained with MRL already, or drop mrl-ft"
            )
        if config["datasets"][exp["dataset"]]["validation"] is None and not exp["tune"]["grid"]:
            raise ConfigError(
                f"config: experiments.{name} lists mrl-ft, whose checkpoint is chosen on a "
                f"validation split, and dataset {exp['dataset']!r} sets validation: null: "
                "give it a validation carve"
            )
        try:
            FinetuneParams.from_config(ft)
        except FinetuneError as err:
            raise ConfigError(f"config: experiments.{name}.{err}") from None


def _check_imports(config: dict[str, Any]) -> None:
    """csr-st reads a released checkpoint per k: its folder must be given and exist for
    every k of the experiment (a typo fails here, not after the embeddings)."""
    for name, exp in config["experiments"].items():
        for method in exp["methods"]:
            if not REGISTRY[method].imported:
                continue
            key = f"experiments.{name}.method_params.{method}.folder"
            template = exp["method_params"].get(method, {}).get("folder", "")
            if not template:
                raise ConfigError(
                    f"config: {key} is not set: give the released checkpoint's "
                    "SparseEncoder folder ({k} in the path is replaced by each budget)"
                )
            for k in exp["k"]:
                folder = Path(str(template).replace("{k}", str(k))).expanduser()
                if not folder.is_dir():
                    raise ConfigError(
                        f"config: {key} gives no directory {str(folder)!r} for k = {k}: "
                        "download the checkpoint there, or list only the k it has"
                    )


def tune_budget(exp: dict[str, Any]) -> int:
    """The k a tuning grid is scored at: `tune.k`, else the experiment's median k."""
    ks = sorted(exp["k"])
    return exp["tune"]["k"] if exp["tune"]["k"] is not None else ks[(len(ks) - 1) // 2]


def _check_tuning(config: dict[str, Any]) -> None:
    """Grids name methods of the experiment, each point builds, every trained method of
    a tuned experiment gets the same number of trials, and there is a split to tune on."""
    for name, exp in config["experiments"].items():
        grids = exp["tune"]["grid"]
        if not grids:
            continue
        where = f"experiments.{name}.tune.grid"
        modality = EXPERIMENT_MODALITY[exp["modality"]]
        for method, grid in grids.items():
            if method not in exp["methods"]:
                raise ConfigError(
                    f"config: {where}.{method}: {method} is not among "
                    f"experiments.{name}.methods ({', '.join(exp['methods'])}); tune only "
                    "methods the experiment runs"
                )
            base = exp["method_params"].get(method, {})
            for point in itertools.product(*grid.values()):
                values = dict(zip(grid, point, strict=True))
                try:
                    build_params(method, modality, {**base, **values})
                except ParamError as err:
                    raise ConfigError(
                        "config: " + err.describe(f"{where}.{method}.") + " (a grid value)"
                    ) from None
        trials = {
            m: math.prod(len(v) for v in grids.get(m, {}).values()) if m in grids else 0
            for m in exp["methods"]
            if REGISTRY[m].trainable
        }
        if len(set(trials.values())) > 1:
            sizes = ", ".join(f"{m}: {n}" for m, n in trials.items())
            raise ConfigError(
                f"config: {where}: every trained method must get the same number of trials "
                f"(the same tuning budget), got {sizes}; give each trained method a grid of "
                "the same size"
            )
        ds = config["datasets"][exp["dataset"]]
        if ds["validation"] is None and ds["loader"] != "precomputed":
            raise ConfigError(
                f"config: {where} needs a validation split, but "
                f"datasets.{exp['dataset']}.validation is null; set it (e.g. "
                "{fraction: 0.15, seed: 0}) so that tuning never reads the test split"
            )
        tune_k = tune_budget(exp)
        if tune_k not in exp["k"]:
            raise ConfigError(
                f"config: experiments.{name}.tune.k = {tune_k} is not one of "
                f"experiments.{name}.k ({exp['k']}); tune at a budget the experiment runs"
            )


# What each loader expects on disk, for messages that say how to fix a path.
_LAYOUTS = {
    ("imagefolder", "root"): "<root>/<split dir, e.g. train and val>/<class>/<image files>",
    ("captions", "karpathy_json"): "a Karpathy-split JSON file such as dataset_coco.json",
    ("captions", "image_root"): "the directory the JSON's filepath/filename entries are under",
}


def _check_paths(config: dict[str, Any]) -> None:
    used = {exp["dataset"] for exp in config["experiments"].values()}
    for name in sorted(used):
        ds = config["datasets"][name]
        for key, path, layout in _dataset_paths(ds):
            if not Path(path).exists():
                raise ConfigError(
                    f"config: datasets.{name}.params.{key} = {path!r} does not exist; "
                    f"point it at {layout}"
                )
        if ds["loader"] == "imagefolder":
            root = Path(ds["params"]["root"])
            splits = ds["params"].get("splits", {"train": "train", "test": "val"})
            for split, sub in splits.items():
                if not (root / sub).is_dir():
                    raise ConfigError(
                        f"config: datasets.{name}.params.root = {str(root)!r} has no "
                        f"{sub!r} directory for split {split!r}; expected layout "
                        f"{_LAYOUTS[('imagefolder', 'root')]}"
                    )


def _dataset_paths(ds: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    loader, params = ds["loader"], ds.get("params", {})
    for key in ("root", "karpathy_json", "image_root"):
        if key in params and (loader, key) in _LAYOUTS:
            yield key, params[key], _LAYOUTS[(loader, key)]
    if loader == "precomputed":
        base = Path(params.get("root", "."))
        for split, spec in params.get("splits", {}).items():
            for field, files in spec.get("fields", {}).items():
                for kind, path in files.items():
                    yield (
                        f"splits.{split}.fields.{field}.{kind}",
                        str(base / path),
                        "a .npy file (embeddings: float [n, d]; labels: int [n]; ids: str [n])",
                    )
            if "relevance" in spec:
                yield (
                    f"splits.{split}.relevance.pairs",
                    str(base / spec["relevance"]["pairs"]),
                    "a .npy int array [m, 3]: source row, target row, grade",
                )
