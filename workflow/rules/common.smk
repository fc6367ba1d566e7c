# Config validation and target lists. Kept import-light (no torch) so that parsing the
# workflow, and a `snakemake` that has nothing to do, stays well under a few seconds.
from csrbench.config import ConfigError, load_schema, validate_config

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
