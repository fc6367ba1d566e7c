"""The paper configs plan the expected DAG on data laid out like the real thing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4, 3), value, dtype=np.uint8)).save(path)


def test_imagenet_config_plans_embeddings(tmp_path: Path, wf) -> None:
    cfg = wf.load_yaml("config/paper/imagenet_rn50.yaml")
    root = tmp_path / "imagenet"
    for split in ("train", "val"):
        for wnid in ("n01440764", "n01443537"):
            _png(root / split / wnid / "a.JPEG", 10)
    cfg["datasets"]["imagenet"]["params"]["root"] = str(root)
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    jobs = wf.planned_jobs(proc)
    assert jobs["embed"] == 2
    # default methods: csr and sae per k (4 each), mrl, full, trunc, pca once
    assert jobs["train"] == 12
    assert jobs["evaluate"] == jobs["encode"] == jobs["bench"] == 1 + 5 * 4
    assert "results/embeddings/imagenet/rn50/train" in proc.stdout
    assert "results/embeddings/imagenet/rn50/test" in proc.stdout


def test_coco_config_plans_embeddings(tmp_path: Path, wf) -> None:
    cfg = wf.load_yaml("config/paper/coco_clip.yaml")
    images = tmp_path / "images"
    _png(images / "val2014" / "x.jpg", 1)
    karpathy = tmp_path / "dataset_coco.json"
    karpathy.write_text(
        json.dumps(
            {
                "images": [
                    {
                        "filepath": "val2014",
                        "filename": "x.jpg",
                        "split": "test",
                        "imgid": 0,
                        "sentences": [{"raw": "a grey square"}],
                    }
                ]
            }
        )
    )
    cfg["datasets"]["coco"]["params"].update(karpathy_json=str(karpathy), image_root=str(images))
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    assert wf.planned_jobs(proc)["embed"] == 2
    assert "results/embeddings/coco/clip-b16/test" in proc.stdout


def test_mteb_config_plans_one_embedding_per_task_split(tmp_path: Path, wf) -> None:
    cfg = wf.load_yaml("config/paper/mteb_text.yaml")
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    jobs = wf.planned_jobs(proc)
    assert jobs["embed"] == 6
    assert jobs["train"] == 3 * 12


def test_data_key_pointing_nowhere_names_key_and_layout(tmp_path: Path, wf) -> None:
    cfg = wf.load_yaml("config/paper/imagenet_rn50.yaml")
    cfg["datasets"]["imagenet"]["params"]["root"] = str(tmp_path / "missing")
    proc = wf.run(
        tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)), check=False
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "datasets.imagenet.params.root" in out
    assert "<class>/<image files>" in out


def test_default_config_is_not_merged_into_a_given_configfile(tmp_path: Path, wf) -> None:
    cfg = wf.load_yaml("config/paper/mteb_text.yaml")
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    assert "digits" not in proc.stdout


def test_scaling_sweeps_follow_evaluate_scaling(tmp_path: Path, wf) -> None:
    cfg = wf.load_yaml("config/config.yaml")
    cfg.setdefault("evaluate", {}).update(speed=True, scaling={"methods": ["csr"], "k": [32]})
    expected = sum("csr" in e["methods"] and 32 in e["k"] for e in cfg["experiments"].values())
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    assert wf.planned_jobs(proc)["scaling"] == expected > 0
    assert "results/scaling/pycode/csr/k32.json" in proc.stdout
    cfg["evaluate"]["speed"] = False  # the sweep is a speed benchmark: off with speed
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    assert "scaling" not in wf.planned_jobs(proc)
