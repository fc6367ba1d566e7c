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
    assert jobs["embed"] == 3  # train, the validation carved from it, test
    # default methods: csr and sae per k (4 each) and mrl, each over 3 seeds; full,
    # trunc, pca once (deterministic)
    assert jobs["train"] == (4 + 4 + 1) * 3 + 3
    # codes and metrics (one job) per seed: csr, sae, mrl at 4 k x 3 seeds; trunc, pca at
    # 4 k; full
    assert jobs["evaluate"] == 3 * 4 * 3 + 2 * 4 + 1
    assert "encode" not in jobs
    assert jobs["aggregate"] == jobs["bench"] == 1 + 5 * 4  # one per (method, budget)
    assert jobs["compare"] == 1
    for split in ("train", "val", "test"):
        assert f"results/embeddings/imagenet/rn50/{split}" in proc.stdout


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
    assert wf.planned_jobs(proc)["embed"] == 3  # train, validation, test
    assert "results/embeddings/coco/clip-b16/test" in proc.stdout


def test_mteb_config_plans_one_embedding_per_task_split(tmp_path: Path, wf) -> None:
    cfg = wf.load_yaml("config/paper/mteb_text.yaml")
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    jobs = wf.planned_jobs(proc)
    assert jobs["embed"] == 3 * 3  # per task: train, validation, test
    assert jobs["train"] == 3 * ((4 + 4 + 1) * 3 + 3)


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
    cfg["evaluate"]["scaling"]["enabled"] = False
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    assert "scaling" not in wf.planned_jobs(proc)


def _jobs(stdout: str) -> list[dict[str, str]]:
    """Each planned job of a dry run as {"rule": ..., "input": ..., "output": ...}."""
    jobs: list[dict[str, str]] = []
    for line in stdout.splitlines():
        text = line.strip()
        if text.startswith(("rule ", "localrule ")) and text.endswith(":"):
            jobs.append({"rule": text.split()[1].rstrip(":")})
        elif jobs and ":" in text:
            key, _, value = text.partition(": ")
            jobs[-1].setdefault(key, value)
    return jobs


def test_no_tuning_job_reads_the_test_split(tmp_path: Path, wf) -> None:
    cfg = wf.load_yaml("config/config.yaml")
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    jobs = _jobs(proc.stdout)
    tunes = [j for j in jobs if j["rule"] == "tune"]
    tuned = sum(len(e.get("tune", {}).get("grid", {})) for e in cfg["experiments"].values())
    assert len(tunes) == tuned > 0
    for job in tunes:
        inputs = job["input"].split(", ")
        assert {Path(i).name for i in inputs} == {"train", "val"}, job
        assert not any(i.endswith("/test") for i in inputs), job
    # what does read test: evaluation only, never a fit (train reads train + the choice)
    for job in jobs:
        if job["rule"] == "train":
            assert not any(i.endswith(("/test", "/val")) for i in job["input"].split(", ")), job


def test_a_tuned_method_trains_with_its_tuning_choice(tmp_path: Path, wf) -> None:
    cfg = wf.load_yaml("config/config.yaml")
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    trains = [j for j in _jobs(proc.stdout) if j["rule"] == "train"]
    csr = [j for j in trains if "results/models/pycode/csr/" in j["output"]]
    assert len(csr) == len(cfg["experiments"]["pycode"]["k"]) * 3  # budgets x 3 seeds
    assert all("results/tune/pycode/csr.json" in j["input"] for j in csr)
    pca = [j for j in trains if "results/models/pycode/pca/" in j["output"]]
    assert len(pca) == 1 and "results/tune" not in pca[0]["input"]


def test_frontier_follows_evaluate_codecs(tmp_path: Path, wf) -> None:
    cfg = wf.load_yaml("config/config.yaml")
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    assert wf.planned_jobs(proc)["frontier"] == len(cfg["experiments"])
    frontier = [j for j in _jobs(proc.stdout) if j["rule"] == "frontier"]
    pycode = next(j for j in frontier if "pycode" in j["output"])
    inputs = pycode["input"].split(", ")
    assert (
        "results/codes/pycode/csr/k8/seed2" in inputs
        and "results/codes/pycode/full/full/seed0" in inputs
    )
    assert not any("/val" in i for i in inputs)  # codes and the train/test embeddings only
    cfg.setdefault("evaluate", {})["codecs"] = []
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    assert "frontier" not in wf.planned_jobs(proc)
    cfg["evaluate"]["codecs"] = ["sq8", "int3"]
    proc = wf.run(
        tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)), check=False
    )
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert "int3" in message and "codecs" in message, message


def test_a_corpus_of_every_split_encodes_validation_for_evaluate(tmp_path: Path, wf) -> None:
    """config/pycode-large.yaml searches every split's documents (`corpus: all`), so its
    evaluate jobs encode the validation split too; the default's never read it."""
    large = wf.load_yaml("config/pycode-large.yaml")
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "l.yaml", large)))
    jobs = _jobs(proc.stdout)
    evaluates = [j for j in jobs if j["rule"] == "evaluate"]
    assert evaluates and wf.planned_jobs(proc)["bench"] == 1 + 4 * 4  # full + 4 methods x 4 k
    for job in evaluates:
        names = {Path(i).name for i in job["input"].split(", ") if "/embeddings/" in i}
        assert names == {"train", "val", "test"}, job
    default = wf.load_yaml("config/config.yaml")
    proc = wf.run(
        tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "d.yaml", default))
    )
    for job in _jobs(proc.stdout):
        if job["rule"] == "evaluate":
            assert not any(i.endswith("/val") for i in job["input"].split(", ")), job


def test_mrl_ft_fine_tunes_per_seed_and_reads_its_own_seeds_embeddings(tmp_path: Path, wf) -> None:
    cfg = wf.load_yaml("config/config.yaml")
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    counts = wf.planned_jobs(proc)
    tuned = [e for e, exp in cfg["experiments"].items() if "mrl-ft" in exp["methods"]]
    assert tuned == ["digits"]  # pycode's fine-tune is config/pycode-finetune.yaml
    seeds = 3 * len(tuned)
    assert counts["finetune"] == counts["finetune_curve"] == seeds
    assert counts["embed_finetuned"] == 2 * seeds  # train (classification, 1-NN) and test
    assert counts["training_time"] == len(tuned)
    for job in _jobs(proc.stdout):
        out = job.get("output", "")
        if job["rule"] == "evaluate" and "/mrl-ft/" in out:
            seed = out.rsplit("seed", 1)[1].split(".")[0]
            exp = out.split("results/metrics/")[1].split("/")[0]
            embeddings = [i for i in job["input"].split(", ") if "/embeddings" in i]
            assert sorted(embeddings) == [
                f"results/embeddings-ft/{exp}/seed{seed}/{s}" for s in ("test", "train")
            ], job
        elif job["rule"] == "evaluate":
            assert "embeddings-ft" not in job["input"], job


def test_a_published_mrl_backbone_is_read_as_is(tmp_path: Path, wf) -> None:
    """`finetune.backbone` names a backbone trained with MRL already (here a local
    sentence-transformers folder): mrl-ft embeds with it, once, and nothing is trained."""
    folder = tmp_path / "nomic-like"
    folder.mkdir()
    cfg = wf.load_yaml("config/config.yaml")
    cfg["backbones"]["published"] = {"type": "sentence-transformers", "model": str(folder)}
    del cfg["experiments"]["digits"]
    cfg["experiments"]["pycode"]["methods"].append("mrl-ft")
    cfg["experiments"]["pycode"]["finetune"] = {"backbone": "published"}
    proc = wf.run(tmp_path, "-n", "--configfile", str(wf.write_config(tmp_path / "c.yaml", cfg)))
    counts = wf.planned_jobs(proc)
    for rule in ("finetune", "embed_finetuned", "finetune_curve", "training_time"):
        assert rule not in counts, rule
    jobs = _jobs(proc.stdout)
    mrl_ft = [j for j in jobs if j["rule"] == "evaluate" and "/mrl-ft/" in j["output"]]
    assert len(mrl_ft) == 4  # one per k, seed 0 only: nothing here depends on a seed
    for job in mrl_ft:
        assert "seed0" in job["output"]
        assert "results/embeddings/pycode/published/test" in job["input"], job
    embeds = {j["output"] for j in jobs if j["rule"] == "embed"}
    assert {"results/embeddings/pycode/published/train"} <= embeds
