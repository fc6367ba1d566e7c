"""Config validation: every bad input fails before any job, naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from csrbench.config import ConfigError, load_schema, validate_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def default_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _text_finetune(cfg: dict) -> dict:
    """The default's pycode experiment with mrl-ft listed (config/pycode-finetune.yaml
    does this); its `finetune` block, to mutate."""
    exp = cfg["experiments"]["pycode"]
    exp["methods"] = [*exp["methods"], "mrl-ft"]
    return exp.setdefault("finetune", {})


def test_default_and_test_configs_are_valid() -> None:
    for name in (
        "config.yaml",
        "test.yaml",
        "ablation.yaml",
        "low-budget.yaml",
        "pycode-finetune.yaml",
        "pycode-large.yaml",
    ):
        cfg = validate_config(yaml.safe_load((ROOT / "config" / name).read_text()))
        assert cfg["embed"]["batch_size"] >= 1
        assert all(e["train_split"] == "train" for e in cfg["experiments"].values())


@pytest.mark.parametrize(
    ("name", "experiment"),
    [
        ("ablation.yaml", "pycode-ablation"),
        ("low-budget.yaml", "pycode-low-budget"),
        ("pycode-finetune.yaml", "pycode-finetune"),
    ],
)
def test_the_extra_configs_embed_exactly_as_the_default(
    default_config: dict, name: str, experiment: str
) -> None:
    """config/ablation.yaml, low-budget.yaml and pycode-finetune.yaml promise to reuse the
    default run's pycode embeddings: their dataset, backbone and embed settings (the
    embed job's params) must be the default's, or a run after `make run` embeds pycode
    again under the same paths."""
    extra = validate_config(yaml.safe_load((ROOT / "config" / name).read_text()))
    base = validate_config(default_config)
    assert extra["datasets"]["pycode"] == base["datasets"]["pycode"]
    assert extra["backbones"]["minilm"] == base["backbones"]["minilm"]
    # threads schedule the embed jobs and are not among their params
    assert {**extra["embed"], "threads": 0} == {**base["embed"], "threads": 0}
    assert set(extra["experiments"]) == {experiment}
    assert not set(extra["experiments"]) & set(base["experiments"])


def test_defaults_are_filled(default_config: dict) -> None:
    del default_config["embed"]
    cfg = validate_config(default_config)
    assert cfg["embed"] == {
        "batch_size": 64,
        "shard_rows": 8192,
        "dtype": "float32",
        "device": "auto",
        "amp": False,
        "threads": 4,
    }
    assert "embed" not in default_config  # the input is not mutated


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: c["embed"].update(batch_sise=3),
            r"unknown key embed\.batch_sise; allowed keys here: amp, batch_size",
        ),
        (
            lambda c: c["embed"].update(batch_size="64"),
            r"embed\.batch_size must be of type integer",
        ),
        (lambda c: c["embed"].update(device="gpu"), r"embed\.device"),
        (
            lambda c: c["backbones"]["minilm"].update(type="bert"),
            r"backbones\.minilm\.type = 'bert' is not allowed; choose one of: timm, ",
        ),
        (
            lambda c: c["backbones"]["minilm"].update(max_seq_lenght=3),
            r"unknown key backbones\.minilm\.max_seq_lenght; allowed keys here: .*max_seq_length",
        ),
        (
            lambda c: c["experiments"]["pycode"].update(backbone="mpnet"),
            r"experiments\.pycode\.backbone = 'mpnet' is not defined under backbones; "
            r"defined: effnet-lite0, minilm",
        ),
        (
            lambda c: c["experiments"]["pycode"].update(dataset="codesearchnet"),
            r"experiments\.pycode\.dataset = 'codesearchnet' is not defined under datasets",
        ),
        (
            lambda c: c["datasets"]["digits"].update(loader="mnist"),
            r"datasets\.digits\.loader = 'mnist' is not allowed; choose one of: digits, pycode",
        ),
        (
            lambda c: c["datasets"]["pycode"]["params"].update(packages="numpy"),
            r"datasets\.pycode\.params\.packages must be of type array",
        ),
        (
            lambda c: c["experiments"]["digits"].update(modality="audio"),
            r"experiments\.digits\.modality = 'audio' is not allowed",
        ),
        (lambda c: c.update(experiment={}), r"unknown key experiment"),
        (
            lambda c: c["experiments"]["pycode"].update(corpus="train"),
            r"experiments\.pycode\.corpus = 'train' is not allowed; choose one of: eval, all",
        ),
        (
            lambda c: c["experiments"]["digits"].update(corpus="all"),
            r"experiments\.digits\.corpus = 'all' grows the database of query->doc retrieval, "
            r"which dataset 'digits' \(loader digits\) does not have: set corpus: eval",
        ),
        (
            lambda c: _text_finetune(c).update(checkpoints=[0.5, 0.25]),
            r"experiments\.pycode\.finetune\.checkpoints = \[0\.5, 0\.25\]: give increasing",
        ),
        (
            lambda c: _text_finetune(c).update(steps=2, checkpoints=[0.25, 0.5, 1.0]),
            r"experiments\.pycode\.finetune\.checkpoints = \[0\.25, 0\.5, 1\.0\] at steps=2 "
            r"fall on the same steps \[1, 1, 2\]",
        ),
        (
            lambda c: _text_finetune(c).update(backbone="nomic"),
            r"experiments\.pycode\.finetune\.backbone = 'nomic' is not defined under backbones",
        ),
        (
            lambda c: _text_finetune(c).update(lr=0),
            r"experiments\.pycode\.finetune\.lr: 0 is less than or equal to the minimum of 0",
        ),
        (
            lambda c: c["experiments"]["digits"].update(modality="image-text"),
            r"experiments\.digits\.methods lists mrl-ft, whose fine-tune trains "
            r"sentence-transformers backbones on text and timm backbones on images, not a timm "
            r"backbone on image-text: set experiments\.digits\.finetune\.backbone",
        ),
        (
            lambda c: (
                _text_finetune(c),
                c["datasets"]["pycode"].update(validation=None),
                c["experiments"]["pycode"]["tune"].update(grid={}),
            ),
            r"experiments\.pycode lists mrl-ft, whose checkpoint is chosen on a validation "
            r"split, and dataset 'pycode' sets validation: null",
        ),
    ],
)
def test_bad_config_names_the_key(default_config: dict, mutate, message: str) -> None:
    cfg = copy.deepcopy(default_config)
    mutate(cfg)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_missing_dataset_path_names_key_and_layout(default_config: dict, tmp_path: Path) -> None:
    cfg = copy.deepcopy(default_config)
    cfg["datasets"]["inet"] = {"loader": "imagefolder", "params": {"root": str(tmp_path / "x")}}
    cfg["experiments"]["inet"] = {
        "dataset": "inet",
        "backbone": "effnet-lite0",
        "modality": "image",
    }
    with pytest.raises(
        ConfigError, match=r"datasets\.inet\.params\.root = .* does not exist.*<class>"
    ):
        validate_config(cfg)
    (tmp_path / "x" / "train").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"no 'val' directory for split 'test'"):
        validate_config(cfg)
    (tmp_path / "x" / "val").mkdir()
    validate_config(cfg)


def test_unused_dataset_paths_are_not_checked(default_config: dict) -> None:
    cfg = copy.deepcopy(default_config)
    cfg["datasets"]["inet"] = {"loader": "imagefolder", "params": {"root": "/nowhere"}}
    validate_config(cfg)


def test_precomputed_paths_are_checked(default_config: dict, tmp_path: Path) -> None:
    cfg = copy.deepcopy(default_config)
    x = tmp_path / "x.npy"
    cfg["datasets"]["mine"] = {
        "loader": "precomputed",
        "params": {"splits": {"train": {"fields": {"image": {"embeddings": str(x)}}}}},
    }
    cfg["backbones"]["none"] = {"type": "precomputed"}
    cfg["experiments"]["mine"] = {"dataset": "mine", "backbone": "none", "modality": "image"}
    with pytest.raises(
        ConfigError, match=r"datasets\.mine\.params\.splits\.train\.fields\.image\.embeddings"
    ):
        validate_config(cfg)


def test_key_order_is_canonical(default_config: dict) -> None:
    """Reordering keys in the YAML must not change the params Snakemake compares."""
    reordered = {key: default_config[key] for key in reversed(list(default_config))}
    reordered["embed"] = dict(reversed(list(default_config["embed"].items())))
    a, b = validate_config(default_config), validate_config(reordered)
    assert list(a["embed"]) == list(b["embed"]) == sorted(a["embed"])
    assert a == b


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        (
            "csr",
            {"temprature": 0.05},
            r"config: experiments\.pycode\.method_params\.csr\.temprature = 0\.05 is not "
            r"accepted; unknown parameter for csr \(did you mean 'temperature'\?\)",
        ),
        (
            "csr",
            {"init_pre_bias": "median"},
            r"experiments\.pycode\.method_params\.csr\.init_pre_bias = 'median' is not "
            r"accepted; expected one of: zeros, mean",
        ),
        (
            "mrl",
            {"lr": -0.1},
            r"experiments\.pycode\.method_params\.mrl\.lr = -0\.1 is not accepted; "
            r"expected number > 0",
        ),
        (
            "sae",
            {"gamma": 1.0},
            r"experiments\.pycode\.method_params\.sae\.gamma = 1\.0 .*sae fixes gamma = 0\.0",
        ),
        (
            "pca",
            {"epochs": 3},
            r"experiments\.pycode\.method_params\.pca\.epochs = 3 .*unknown parameter for pca",
        ),
    ],
)
def test_bad_method_params_fail_at_parse_time_naming_the_dotted_key(
    default_config: dict, method: str, params: dict, message: str
) -> None:
    cfg = copy.deepcopy(default_config)
    cfg["experiments"]["pycode"].setdefault("method_params", {})[method] = params
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_method_params_use_the_experiments_modality(default_config: dict) -> None:
    """`image-text` experiments build their parameters as `multimodal` ones."""
    cfg = copy.deepcopy(default_config)
    cfg["experiments"]["pycode"].update(modality="image-text", methods=["csr", "mrl"])
    cfg["experiments"]["pycode"].setdefault("method_params", {})["csr"] = {
        "modality": "auto",
        "lr": "1e-3",
    }
    validate_config(cfg)  # "auto" means the experiment's modality; a YAML "1e-3" is a number
    cfg["experiments"]["pycode"]["method_params"]["csr"] = {"modality": "image-text"}
    with pytest.raises(ConfigError, match=r"csr\.modality = 'image-text'.*multimodal"):
        validate_config(cfg)


def test_methods_are_checked_against_the_registry(default_config: dict) -> None:
    """Even where the schema would let a name through, the registry is the judge."""
    schema = load_schema()
    schema["$defs"]["method"] = {"type": "string"}
    cfg = copy.deepcopy(default_config)
    cfg["experiments"]["digits"]["methods"] = ["full", "csr3"]
    with pytest.raises(
        ConfigError,
        match=r"experiments\.digits\.methods\.1 = 'csr3' is not a registered method; "
        r"choose one of: csr, sae, csr-v2",
    ):
        validate_config(cfg, schema)
    cfg = copy.deepcopy(default_config)
    cfg["experiments"]["digits"]["method_params"]["csr3"] = {}
    with pytest.raises(ConfigError, match=r"method_params\.csr3: not a registered method"):
        validate_config(cfg, schema)


def test_schema_rejects_an_unknown_method_by_its_registry_enum(default_config: dict) -> None:
    cfg = copy.deepcopy(default_config)
    cfg["experiments"]["digits"]["methods"] = ["full", "csr3"]
    with pytest.raises(
        ConfigError, match=r"methods\.1 = 'csr3' is not allowed; choose one of: csr"
    ):
        validate_config(cfg)


def _grid(cfg: dict, exp: str = "pycode") -> dict:
    return cfg["experiments"][exp]["tune"]["grid"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: _grid(c).update(sae={"gamma": [0.0]}),
            r"experiments\.pycode\.tune\.grid\.sae: sae is not among experiments\.pycode\.methods",
        ),
        (
            lambda c: _grid(c)["mrl"].update(lr=[0.001]),
            r"same number of trials .*got csr: 2, mrl: 1",
        ),
        (
            lambda c: _grid(c)["csr"].update(init_pre_bias=["zeros", "median"]),
            r"experiments\.pycode\.tune\.grid\.csr\.init_pre_bias = 'median'.*\(a grid value\)",
        ),
        (
            lambda c: _grid(c)["csr"].update(temprature=[0.1, 0.2]),
            r"tune\.grid\.csr\.temprature.*did you mean 'temperature'",
        ),
        (
            lambda c: c["experiments"]["pycode"]["tune"].update(k=24),
            r"experiments\.pycode\.tune\.k = 24 is not one of experiments\.pycode\.k",
        ),
        (
            lambda c: c["datasets"]["pycode"].update(validation=None),
            r"tune\.grid needs a validation split, but datasets\.pycode\.validation is null",
        ),
        (
            lambda c: c["datasets"]["pycode"].update(validation={"fraction": 1.5}),
            r"datasets\.pycode\.validation\.fraction",
        ),
        (
            lambda c: c["experiments"]["pycode"].update(seeds=0),
            r"experiments\.pycode\.seeds",
        ),
        (
            lambda c: c["experiments"]["pycode"].update(seed=0),
            r"unknown key experiments\.pycode\.seed\b",
        ),
    ],
)
def test_bad_tuning_and_protocol_keys_fail_at_parse_time(
    default_config: dict, mutate, message: str
) -> None:
    cfg = copy.deepcopy(default_config)
    mutate(cfg)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_protocol_defaults(default_config: dict) -> None:
    assert "validation" not in default_config["datasets"]["digits"]
    cfg = validate_config(default_config)
    assert cfg["datasets"]["digits"]["validation"] == {"fraction": 0.15, "seed": 0}
    assert all(e["seeds"] == 3 and e["val_split"] == "val" for e in cfg["experiments"].values())


def test_mrl_e_is_refused_where_the_experiment_trains_without_labels(default_config) -> None:
    cfg = copy.deepcopy(default_config)
    cfg["experiments"]["digits"]["methods"].append("mrl-e")
    grid = cfg["experiments"]["digits"]["tune"]["grid"]
    grid["mrl-e"] = grid["mrl"]  # the same tuning budget as every trained method
    validate_config(cfg)  # labelled images: MRL-E has its shared classifier
    cfg["experiments"]["digits"].setdefault("method_params", {})["mrl-e"] = {
        "objective": "similarity"
    }
    with pytest.raises(ConfigError, match=r"experiments\.digits\.methods lists mrl-e.*similarity"):
        validate_config(cfg)


def _schema_keys(node: object, schema: dict, path: str = "", seen: set | None = None):
    """(dotted path, key) of every property the schema defines, at any depth."""
    seen = set() if seen is None else seen
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref not in seen:
            yield from _schema_keys(schema["$defs"][ref.split("/")[-1]], schema, path, seen | {ref})
        for key, sub in (node.get("properties") or {}).items():
            yield f"{path}.{key}".lstrip("."), key
            yield from _schema_keys(sub, schema, f"{path}.{key}", seen)
        for word in ("additionalProperties", "items", "then", "if"):
            if isinstance(node.get(word), dict):
                yield from _schema_keys(node[word], schema, path, seen)
        for branch in node.get("allOf", []) + node.get("oneOf", []) + node.get("anyOf", []):
            yield from _schema_keys(branch, schema, path, seen)


def test_a_released_csr_needs_its_folder_for_every_k(default_config: dict, tmp_path) -> None:
    cfg = copy.deepcopy(default_config)
    cfg["experiments"]["pycode"]["methods"].append("csr-st")
    with pytest.raises(ConfigError, match=r"method_params\.csr-st\.folder is not set"):
        validate_config(cfg)
    for k in (8, 16, 32):
        (tmp_path / f"csr-k{k}").mkdir()
    cfg["experiments"]["pycode"]["method_params"]["csr-st"] = {"folder": str(tmp_path / "csr-k{k}")}
    with pytest.raises(ConfigError, match=r"gives no directory '.*csr-k64' for k = 64"):
        validate_config(cfg)
    (tmp_path / "csr-k64").mkdir()
    assert validate_config(cfg)["experiments"]["pycode"]["methods"][-1] == "csr-st"


def test_finetune_is_checked_only_where_mrl_ft_runs(default_config: dict) -> None:
    cfg = copy.deepcopy(default_config)
    assert "mrl-ft" not in cfg["experiments"]["pycode"]["methods"]
    cfg["experiments"]["pycode"]["finetune"] = {"backbone": "undefined"}
    assert validate_config(cfg)["experiments"]["pycode"]["finetune"]["steps"] == 24


def test_every_schema_key_is_documented_in_the_config_readme() -> None:
    import re

    schema = load_schema()
    doc = (ROOT / "config" / "README.md").read_text()
    quoted = set(re.findall(r"`([^`]+)`", doc))
    words = {w for q in quoted for w in re.split(r"[^A-Za-z0-9_-]+", q) if w}
    keys = sorted(set(_schema_keys(schema, schema)))
    assert len(keys) > 60  # the walk reaches the nested loader, backbone and tune keys
    missing = sorted({key for _, key in keys if key not in words})
    assert not missing, f"config/README.md does not mention these schema keys: {missing}"
