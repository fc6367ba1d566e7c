# Config validation and target lists. Kept import-light (no torch) so that parsing the
# workflow, and a `snakemake` that has nothing to do, stays well under a few seconds.
from csrbench.config import ConfigError, load_schema, validate_config
from csrbench.methods.budget import CODES_BUDGET_PATTERN, MODEL_BUDGET_PATTERN, Budget
from csrbench.methods.registry import method_spec

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


# Path patterns for building target lists; the rules spell the same paths literally.
EMBEDDINGS = "results/embeddings/{dataset}/{backbone}/{split}"


def experiment_splits(exp):
    """The dataset splits an experiment reads: its training split and its evaluation split."""
    return sorted({exp["train_split"], exp["eval_split"]})


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
MODELS = "results/models/{experiment}/{method}/{budget}"
CODES = "results/codes/{experiment}/{method}/{cbudget}"


def experiment_embeddings(experiment, split):
    exp = config["experiments"][experiment]
    return EMBEDDINGS.format(
        dataset=exp["dataset"], backbone=exp["backbone"], split=split
    )


def train_embeddings(wildcards):
    exp = config["experiments"][wildcards.experiment]
    return experiment_embeddings(wildcards.experiment, exp["train_split"])


def method_params(wildcards):
    exp = config["experiments"][wildcards.experiment]
    return {
        "method": wildcards.method,
        "k": Budget.parse(wildcards.budget).k,
        "modality": exp["modality"],
        "seed": exp["seed"],
        "overrides": exp["method_params"].get(wildcards.method, {}),
        "device": config["train"]["device"],
    }


def model_for_codes(wildcards):
    """The fitted model that serves (method, budget): its own k for CSR, `all` otherwise."""
    model = MODELS.format(
        experiment=wildcards.experiment,
        method=wildcards.method,
        budget=Budget.for_model(wildcards.method, Budget.parse(wildcards.cbudget).k),
    )
    return f"{model}/model.safetensors"


def code_budgets(exp):
    """(method, code budget) pairs an experiment evaluates: every k, or `full` once."""
    return sorted(
        {(m, str(Budget.for_codes(m, k))) for m in exp["methods"] for k in exp["k"]}
    )


def all_codes():
    return sorted(
        CODES.format(experiment=name, method=method, cbudget=cbudget)
        for name, exp in config["experiments"].items()
        for method, cbudget in code_budgets(exp)
    )


def all_metrics():
    return sorted(
        f"results/metrics/{name}/{method}/{cbudget}.json"
        for name, exp in config["experiments"].items()
        for method, cbudget in code_budgets(exp)
    )


def all_speed():
    """Retrieval-timing JSONs, where `evaluate.speed` is on."""
    if not config["evaluate"]["speed"]:
        return []
    return [
        path.replace("results/metrics/", "results/bench/") for path in all_metrics()
    ]


def experiment_split_embeddings(wildcards):
    """{split: embeddings dir} for every split an experiment reads."""
    exp = config["experiments"][wildcards.experiment]
    return {
        s: experiment_embeddings(wildcards.experiment, s)
        for s in experiment_splits(exp)
    }


def train_threads(wildcards):
    """Trained methods get 4 threads (capped by --cores); a closed-form fit (pca) or none
    (full, trunc) is a second of work, so it takes one and runs beside another job."""
    return 4 if method_spec(wildcards.method).trainable else 1


def train_mem_mb(wildcards, attempt):
    return 8000 * attempt


def all_scaling():
    """Database-size sweeps: each sparse method and k of `evaluate.scaling` that an
    experiment fits, where both the sweep and `evaluate.speed` are on."""
    sweep = config["evaluate"]["scaling"]
    if not (config["evaluate"]["speed"] and sweep["enabled"]):
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
from csrbench.report.files import result_files

TRAINING_SUMMARY = "results/models/{experiment}/{method}/{budget}/summary.json"


def all_training_summaries():
    """summary.json of every fit the config's experiments make (one per k for CSR)."""
    return sorted(
        {
            TRAINING_SUMMARY.format(
                experiment=name, method=method, budget=Budget.for_model(method, k)
            )
            for name, exp in config["experiments"].items()
            for method in exp["methods"]
            for k in exp["k"]
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
    targets = {*all_metrics(), *all_speed(), *all_scaling(), *all_training_summaries()}
    others = [
        before_update(f)
        for f in result_files("results", require_metrics=False)
        if f not in targets
    ]
    return sorted(targets) + others
