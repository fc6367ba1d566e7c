rule tune:
    """Choose a method's settings on the validation split: its grid, fitted at one budget."""
    input:
        unpack(tune_embeddings),
    output:
        "results/tune/{experiment}/{method}.json",
    log:
        "logs/tune/{experiment}/{method}.log",
    benchmark:
        "benchmarks/tune/{experiment}/{method}.tsv"
    priority: 1
    conda:
        "../../envs/csrbench.yaml"
    threads: train_threads
    resources:
        mem_mb=train_mem_mb,
        runtime=480,
    params:
        spec=tune_spec,
        grid=tune_grid,
    script:
        "../../scripts/tune.py"


rule train:
    """Fit one method on an experiment's training split at one seed: per k for CSR, once
    otherwise; with the settings `tune` chose, where the method is tuned."""
    input:
        unpack(train_inputs),
    output:
        model="results/models/{experiment}/{method}/{budget}/seed{seed}/model.safetensors",
        config="results/models/{experiment}/{method}/{budget}/seed{seed}/config.json",
        steps="results/models/{experiment}/{method}/{budget}/seed{seed}/train.tsv",
        summary="results/models/{experiment}/{method}/{budget}/seed{seed}/summary.json",
    log:
        "logs/train/{experiment}/{method}/{budget}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{experiment}/{method}/{budget}/seed{seed}.tsv"
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
