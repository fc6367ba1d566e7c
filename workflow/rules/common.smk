# Config validation and target lists. Kept import-light (no torch) so that parsing the
# workflow, and a `snakemake` that has nothing to do, stays well under a few seconds.
from csrbench.aggregate import aggregate_job
from csrbench.config import ConfigError, load_schema, tune_budget, validate_config
from csrbench.methods.budget import CODES_BUDGET_PATTERN, MODEL_BUDGET_PATTERN, Budget
from csrbench.methods.params import build_params
from csrbench.methods.registry import method_spec
from csrbench.training_time import training_time_job

try:
    # in place: the rules and Snakemake's own copy must see the same, validated dict
    config.update(
        validate_config(
            config, load_schema(Path(workflow.basedir) / "schemas/config.schema.yaml")
        )
    )
except ConfigError as err:
    raise WorkflowError(str(err)) from None


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    backbone=r"[A-Za-z0-9_-]+",
    split=r"[A-Za-z0-9_-]+",
    experiment=r"[A-Za-z0-9_-]+",
    method=r"[a-z0-9-]+",
    budget=MODEL_BUDGET_PATTERN,
    cbudget=CODES_BUDGET_PATTERN,
    seed=r"[0-9]+",


# What an embedding depends on (the rules' `embed` param): `threads` only schedules
# jobs, so changing it re-runs nothing.
EMBED_SETTINGS = {key: v for key, v in config["embed"].items() if key != "threads"}

# Path patterns for building target lists; the rules spell the same paths literally.
EMBEDDINGS = "results/embeddings/{dataset}/{backbone}/{split}"


def has_validation(exp):
    """Whether the experiment's dataset has a validation split (carved, or the loader's)."""
    ds = config["datasets"][exp["dataset"]]
    return ds["validation"] is not None or bool(exp["tune"]["grid"])


def experiment_splits(exp):
    """The dataset splits an experiment embeds: training, validation (where the dataset
    has one) and evaluation. Validation rows are carved out of training, so embedding
    them costs nothing extra."""
    val = [exp["val_split"]] if has_validation(exp) else []
    return sorted({exp["train_split"], exp["eval_split"], *val})


def corpus_splits(exp):
    """The splits whose documents join the eval split's in the retrieval database
    (`corpus: all`): training and, where the dataset has one, validation."""
    if exp["corpus"] != "all":
        return []
    return [exp["train_split"]] + ([exp["val_split"]] if has_validation(exp) else [])


def coded_splits(exp):
    """The splits `evaluate` encodes and reads: validation only where it joins the
    retrieval corpus (`tune` reads it, from embeddings)."""
    return sorted({exp["train_split"], exp["eval_split"], *corpus_splits(exp)})


def experiment_seeds(exp, method):
    """Seeds a method runs with: every one of `seeds` where the seed changes the fit,
    else seed 0 alone (also mrl-ft on a published backbone: nothing is trained here)."""
    spec = method_spec(method)
    if spec.finetuned and exp["finetune"]["backbone"] is not None:
        return [0]
    return list(range(exp["seeds"])) if spec.varies_with_seed else [0]


def all_embeddings():
    """Every (dataset, backbone, split) embedding directory the experiments need."""
    return sorted(
        {
            EMBEDDINGS.format(
                dataset=exp["dataset"], backbone=exp["backbone"], split=split
            )
            for exp in config["experiments"].values()
            for split in experiment_splits(exp)
        }
    )


def dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


def backbone_spec(wildcards):
    return config["backbones"][wildcards.backbone]


def embed_mem_mb(wildcards, attempt):
    """Peak memory is the model plus a shard of rows, not the dataset: a flat request."""
    return 8000 * attempt


# ---- training and encoding ---------------------------------------------------------
MODELS = "results/models/{experiment}/{method}/{budget}/seed{seed}"
CODES = "results/codes/{experiment}/{method}/{cbudget}/seed{seed}"
SEED_METRICS = "results/metrics/{experiment}/{method}/{cbudget}/seed{seed}"
TUNED = "results/tune/{experiment}/{method}.json"


def experiment_embeddings(experiment, split):
    exp = config["experiments"][experiment]
    return EMBEDDINGS.format(
        dataset=exp["dataset"], backbone=exp["backbone"], split=split
    )


# ---- the Matryoshka fine-tune behind mrl-ft (rules/finetune.smk) --------------------
FINETUNE = "results/finetune/{experiment}/seed{seed}"
FT_EMBEDDINGS = "results/embeddings-ft/{experiment}/seed{seed}/{split}"
FT_CURVE = "results/finetune/{experiment}/seed{seed}.curve.json"
TRAINING_TIME = "results/training_time/{experiment}.json"


def method_embeddings(experiment, method, seed, split):
    """The embeddings a method reads: the experiment backbone's, or for mrl-ft those of
    its seed's fine-tuned backbone (a published MRL backbone's, where one is given)."""
    exp = config["experiments"][experiment]
    if not method_spec(method).finetuned:
        return experiment_embeddings(experiment, split)
    published = exp["finetune"]["backbone"]
    if published is not None:
        return EMBEDDINGS.format(
            dataset=exp["dataset"], backbone=published, split=split
        )
    return FT_EMBEDDINGS.format(experiment=experiment, seed=seed, split=split)


def finetunes(exp):
    """Whether the experiment fine-tunes its backbone here (mrl-ft, no published one)."""
    return (
        any(method_spec(m).finetuned for m in exp["methods"])
        and exp["finetune"]["backbone"] is None
    )


def finetune_params(wildcards):
    """Everything rule `finetune` needs, plain (the job rebuilds FinetuneParams)."""
    exp = config["experiments"][wildcards.experiment]
    return {
        "dataset": config["datasets"][exp["dataset"]],
        "dataset_name": exp["dataset"],
        "backbone": config["backbones"][exp["backbone"]],
        "modality": exp["modality"],
        "finetune": exp["finetune"],
        "ks": list(exp["k"]),
        "splits": [exp["train_split"], exp["val_split"]],
        "device": config["train"]["device"],
    }


def mrl_ft_value_dtype(wildcards):
    """The dtype mrl-ft's codes are stored in: the curve rounds prefixes to it too."""
    exp = config["experiments"][wildcards.experiment]
    overrides = exp["method_params"].get("mrl-ft", {})
    return build_params("mrl-ft", exp["modality"], overrides).value_dtype


def curve_inputs(wildcards):
    """The fine-tune, and its chosen checkpoint's embeddings of every split `evaluate`
    reads (the curve reads those it needs instead of embedding them again)."""
    exp = config["experiments"][wildcards.experiment]
    return {
        "finetuned": FINETUNE.format(**wildcards),
        **{s: FT_EMBEDDINGS.format(**wildcards, split=s) for s in coded_splits(exp)},
    }


def ft_dataset_spec(wildcards):
    exp = config["experiments"][wildcards.experiment]
    return config["datasets"][exp["dataset"]]


def all_curves(experiment):
    """The fine-tune's per-seed checkpoint curves, where this experiment fine-tunes."""
    exp = config["experiments"][experiment]
    if not finetunes(exp):
        return []
    return [FT_CURVE.format(experiment=experiment, seed=s) for s in range(exp["seeds"])]


def training_time_inputs(wildcards):
    """The training split's embeddings (their extraction time counts once for every
    method fitted on them), each trained fit's summary and per-seed metrics, and the
    fine-tune's curves."""
    exp = config["experiments"][wildcards.experiment]
    name = wildcards.experiment
    summaries, seed_metrics = [], []
    for method in exp["methods"]:
        if not method_spec(method).trainable:
            continue
        for k in exp["k"]:
            for seed in experiment_seeds(exp, method):
                summaries.append(
                    TRAINING_SUMMARY.format(
                        experiment=name,
                        method=method,
                        budget=Budget.for_model(method, k),
                        seed=seed,
                    )
                )
                seed_metrics.append(
                    SEED_METRICS.format(
                        experiment=name,
                        method=method,
                        cbudget=Budget.for_codes(method, k),
                        seed=seed,
                    )
                    + ".json"
                )
    return {
        "embeddings": experiment_embeddings(name, exp["train_split"]),
        "summaries": sorted(set(summaries)),
        "metrics": sorted(set(seed_metrics)),
        "curves": all_curves(name),
    }


def all_training_times():
    """One training-time file per experiment that fine-tunes (the comparison of Fig. 1c
    needs the fine-tune beside the post-hoc fits)."""
    return sorted(
        TRAINING_TIME.format(experiment=name)
        for name, exp in config["experiments"].items()
        if finetunes(exp)
    )


def train_embeddings(wildcards):
    return method_embeddings(
        wildcards.experiment,
        wildcards.method,
        wildcards.seed,
        config["experiments"][wildcards.experiment]["train_split"],
    )


def train_spec(experiment, method, k, seed):
    """What `train` (and `tune`, at its budget) fits: the config's settings of a method."""
    exp = config["experiments"][experiment]
    return {
        "method": method,
        "k": k,
        "modality": exp["modality"],
        "seed": int(seed),
        "overrides": exp["method_params"].get(method, {}),
        "device": config["train"]["device"],
    }


def method_params(wildcards):
    return train_spec(
        wildcards.experiment,
        wildcards.method,
        Budget.parse(wildcards.budget).k,
        wildcards.seed,
    )


def is_tuned(experiment, method):
    return method in config["experiments"][experiment]["tune"]["grid"]


def train_inputs(wildcards):
    """The training split, and the tuning choice where the method is tuned."""
    inputs = {"train": train_embeddings(wildcards)}
    if is_tuned(wildcards.experiment, wildcards.method):
        inputs["tuned"] = TUNED.format(**wildcards)
    return inputs


def tune_spec(wildcards):
    """The train spec at the tuning budget and seed 0 (the grid varies its overrides).
    A method fitted once for every k (MRL) is still fitted with k, so that its nesting
    holds the budget it is scored at, as in training."""
    exp = config["experiments"][wildcards.experiment]
    return train_spec(wildcards.experiment, wildcards.method, tune_budget(exp), 0)


def tune_grid(wildcards):
    return config["experiments"][wildcards.experiment]["tune"]["grid"][wildcards.method]


def tune_embeddings(wildcards):
    exp = config["experiments"][wildcards.experiment]
    return {
        "train": experiment_embeddings(wildcards.experiment, exp["train_split"]),
        "val": experiment_embeddings(wildcards.experiment, exp["val_split"]),
    }


def all_tuning():
    return sorted(
        TUNED.format(experiment=name, method=method)
        for name, exp in config["experiments"].items()
        for method in exp["tune"]["grid"]
    )


def model_for_codes(wildcards):
    """The fitted model that serves (method, budget, seed): its own k for CSR, `all`
    otherwise."""
    model = MODELS.format(
        experiment=wildcards.experiment,
        method=wildcards.method,
        budget=Budget.for_model(wildcards.method, Budget.parse(wildcards.cbudget).k),
        seed=wildcards.seed,
    )
    return f"{model}/model.safetensors"


def code_budgets(exp):
    """(method, code budget) pairs an experiment evaluates: every k, or `full` once."""
    return sorted(
        {(m, str(Budget.for_codes(m, k))) for m in exp["methods"] for k in exp["k"]}
    )


def all_metrics():
    """The per-(method, budget) metric files over seeds that the tables read."""
    return sorted(
        f"results/metrics/{name}/{method}/{cbudget}.json"
        for name, exp in config["experiments"].items()
        for method, cbudget in code_budgets(exp)
    )


def seed_metrics(wildcards):
    """The per-seed metric files (and their per-item scores) one aggregate folds."""
    exp = config["experiments"][wildcards.experiment]
    files = {}
    for seed in experiment_seeds(exp, wildcards.method):
        stem = SEED_METRICS.format(**wildcards, seed=seed)
        files[f"seed{seed}"] = f"{stem}.json"
        files[f"scores{seed}"] = f"{stem}.items.npz"
    return files


def seed_inputs(inputs):
    """The per-seed metric JSON files among an aggregate job's inputs."""
    return [path for name, path in inputs.items() if name.startswith("seed")]


def per_seed_paths(experiment, pattern):
    """`pattern` filled for every (method, budget, seed) an experiment evaluates."""
    exp = config["experiments"][experiment]
    return [
        pattern.format(experiment=experiment, method=method, cbudget=cbudget, seed=seed)
        for method, cbudget in code_budgets(exp)
        for seed in experiment_seeds(exp, method)
    ]


def experiment_metrics(wildcards):
    """Every aggregate metric file of one experiment, and the per-item scores of each of
    its seeds (the comparisons' input)."""
    exp = config["experiments"][wildcards.experiment]
    items = per_seed_paths(wildcards.experiment, f"{SEED_METRICS}.items.npz")
    aggregates = [
        f"results/metrics/{wildcards.experiment}/{method}/{cbudget}.json"
        for method, cbudget in code_budgets(exp)
    ]
    return {"metrics": aggregates, "scores": items}


def all_comparisons():
    return sorted(f"results/compare/{name}.json" for name in config["experiments"])


def frontier_inputs(wildcards):
    """Every seed's codes of every (method, budget) of one experiment, and the split
    embeddings (relevance, labels) the frontier scores them with."""
    codes = per_seed_paths(wildcards.experiment, CODES)
    return {"codes": codes, **relevance_split_embeddings(wildcards)}


def all_frontiers():
    """One frontier per experiment, where `evaluate.codecs` names any codec."""
    if not config["evaluate"]["codecs"]:
        return []
    return sorted(f"results/frontier/{name}.json" for name in config["experiments"])


def all_speed():
    """Retrieval-timing JSONs, where `evaluate.speed` is on."""
    if not config["evaluate"]["speed"]:
        return []
    return [
        path.replace("results/metrics/", "results/bench/") for path in all_metrics()
    ]


def experiment_split_embeddings(wildcards):
    """{split: embeddings dir} for every split `evaluate` encodes and reads (the ones
    the method reads: mrl-ft's are its fine-tuned backbone's)."""
    exp = config["experiments"][wildcards.experiment]
    return {
        s: method_embeddings(wildcards.experiment, wildcards.method, wildcards.seed, s)
        for s in coded_splits(exp)
    }


def relevance_split_embeddings(wildcards):
    """{split: the experiment backbone's embeddings dir}: what `frontier` reads labels
    and relevance from (the same rows whichever backbone embedded them)."""
    exp = config["experiments"][wildcards.experiment]
    return {
        s: experiment_embeddings(wildcards.experiment, s) for s in coded_splits(exp)
    }


def train_threads(wildcards):
    """Trained methods get `train.threads` (capped by --cores); a closed-form fit (pca) or
    none (full, trunc) is a second of work, so it takes one and runs beside another job.
    """
    return config["train"]["threads"] if method_spec(wildcards.method).trainable else 1


def train_mem_mb(wildcards, attempt):
    return 8000 * attempt


def all_scaling():
    """Database-size sweeps: each sparse method and k of `evaluate.scaling` that an
    experiment fits, where the sweep is on (independently of `evaluate.speed`: the sweep
    times synthetic databases of the sizes it is given)."""
    sweep = config["evaluate"]["scaling"]
    if not sweep["enabled"]:
        return []
    return sorted(
        f"results/scaling/{name}/{method}/k{k}.json"
        for name, exp in config["experiments"].items()
        for method in set(exp["methods"]) & set(sweep["methods"])
        for k in set(exp["k"]) & set(sweep["k"])
    )


def scaling_mem_mb(wildcards, input, attempt):
    """Host memory of the largest CPU size: the full-d dense database twice (ours and
    faiss's copy) plus the codes and engine indexes, at the backbone's width d (read
    from the embeddings' provenance; unknown until they exist, which Snakemake handles
    by asking again once they do). GPU-only sizes beyond this are skipped at run time
    if they do not fit; raise mem_mb with --set-resources for them."""
    import errno
    import json

    prov = Path(input.eval) / "provenance.json"
    if not prov.exists():
        raise FileNotFoundError(errno.ENOENT, "embeddings not made yet", input.eval)
    d = max(f["d"] for f in json.loads(prov.read_text())["fields"].values())
    n = max(config["evaluate"]["scaling"]["sizes"])
    k = Budget.parse(wildcards.cbudget).k
    return (int(n * (8 * d + 32 * k) / 2**20) + 2048) * attempt


# ---- report (rules/report.smk): tables and figures from result JSON files alone ----
from csrbench.report.files import VerdictText, result_files

TRAINING_SUMMARY = (
    "results/models/{experiment}/{method}/{budget}/seed{seed}/summary.json"
)


def all_training_summaries():
    """summary.json of every fit the config's experiments make (per k for CSR, per seed
    for methods whose fit depends on it)."""
    return sorted(
        {
            TRAINING_SUMMARY.format(
                experiment=name,
                method=method,
                budget=Budget.for_model(method, k),
                seed=seed,
            )
            for name, exp in config["experiments"].items()
            for method in exp["methods"]
            for k in exp["k"]
            for seed in experiment_seeds(exp, method)
        }
    )


def results_on_disk(wildcards):
    """Every result JSON under results/ as it is now, flagged before_update: Snakemake
    then seeks no producer for it, so `figures` plans no upstream job, whatever the config
    names. None when there is no metric (the job then fails naming the path and the
    command to run)."""
    files = result_files("results", require_metrics=False)
    if not any(f.startswith("results/metrics/") for f in files):
        return []
    return [before_update(f) for f in files]


def run_results(wildcards):
    """This config's result files (made by this run), then any other result on disk."""
    targets = {
        *all_metrics(),
        *all_speed(),
        *all_scaling(),
        *all_training_summaries(),
        *all_comparisons(),
        *all_frontiers(),
        *all_tuning(),
        *all_training_times(),
    }
    others = [
        before_update(f)
        for f in result_files("results", require_metrics=False)
        if f not in targets
    ]
    return sorted(targets) + others
