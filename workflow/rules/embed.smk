rule embed:
    """Embed one split of a dataset with one backbone (every field it has)."""
    output:
        directory("results/embeddings/{dataset}/{backbone}/{split}"),
    log:
        "logs/embed/{dataset}/{backbone}/{split}.log",
    benchmark:
        "benchmarks/embed/{dataset}/{backbone}/{split}.tsv"
    # every fit waits for an embedding, and then for its tuning job: starting those
    # first keeps both cores of a laptop busy instead of idling behind one long tune
    priority: 2
    conda:
        "../../envs/csrbench.yaml"
    threads: config["embed"]["threads"]
    resources:
        mem_mb=embed_mem_mb,
        runtime=240,
    params:
        dataset=dataset_spec,
        backbone=backbone_spec,
        embed=EMBED_SETTINGS,
        # finished shards of an interrupted run are kept here and reused
        resume_dir="results/embeddings/{dataset}/{backbone}/.{split}.partial",
    script:
        "../../scripts/embed.py"
