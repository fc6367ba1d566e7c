rule train:
    """Fit one method on an experiment's training split: per k for CSR, once otherwise."""
    input:
        train_embeddings,
    output:
        model="results/models/{experiment}/{method}/{budget}/model.safetensors",
        config="results/models/{experiment}/{method}/{budget}/config.json",
        steps="results/models/{experiment}/{method}/{budget}/train.tsv",
        summary="results/models/{experiment}/{method}/{budget}/summary.json",
    log:
        "logs/train/{experiment}/{method}/{budget}.log",
    benchmark:
        "benchmarks/train/{experiment}/{method}/{budget}.tsv"
    conda:
        "../../envs/csrbench.yaml"
    threads: train_threads
    resources:
        mem_mb=train_mem_mb,
        runtime=240,
    params:
        spec=method_params,
    script:
        "../../scripts/train.py"


rule encode:
    """Encode an experiment's splits with a fitted method at one budget (sparse or dense)."""
    input:
        unpack(
            lambda w: {"model": model_for_codes(w), **experiment_split_embeddings(w)}
        ),
    output:
        directory("results/codes/{experiment}/{method}/{cbudget}"),
    log:
        "logs/encode/{experiment}/{method}/{cbudget}.log",
    benchmark:
        "benchmarks/encode/{experiment}/{method}/{cbudget}.tsv"
    conda:
        "../../envs/csrbench.yaml"
    threads: 1
    resources:
        mem_mb=train_mem_mb,
        runtime=60,
    params:
        k=lambda w: Budget.parse(w.cbudget).k,
        splits=lambda w: sorted(experiment_split_embeddings(w)),
    script:
        "../../scripts/encode.py"
