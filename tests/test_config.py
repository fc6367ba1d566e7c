"""Config validation: every bad input fails before any job, naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from csrbench.config import ConfigError, validate_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def default_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_and_test_configs_are_valid() -> None:
    for name in ("config.yaml", "test.yaml"):
        cfg = validate_config(yaml.safe_load((ROOT / "config" / name).read_text()))
        assert cfg["embed"]["batch_size"] >= 1
        assert all(e["train_split"] == "train" for e in cfg["experiments"].values())


def test_defaults_are_filled(default_config: dict) -> None:
    del default_config["embed"]
    cfg = validate_config(default_config)
    assert cfg["embed"] == {
        "batch_size": 64,
        "shard_rows": 8192,
        "dtype": "float32",
        "device": "auto",
        "amp": False,
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
