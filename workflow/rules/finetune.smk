# The Matryoshka fine-tune behind method mrl-ft (the paper's MRL): the experiment's
# backbone trained with nested losses, once per seed; its validation-chosen checkpoint
# embedded like any backbone; every checkpoint scored for the training-time comparison.
# Helpers (finetune_params, training_time_inputs, ...) are in common.smk.


rule finetune:
    """Fine-tune an experiment's backbone with a Matryoshka objective on its training
    split, checkpoints scored on validation (src/csrbench/finetune)."""
    output:
        directory(FINETUNE),
    log:
        "logs/finetune/{experiment}/seed{seed}.log",
    benchmark:
        "benchmarks/finetune/{experiment}/seed{seed}.tsv"
    # after the backbone's own embeddings (priority 2), which every other fit and its
    # tuning wait for; beside the tuning jobs, filling the cores they leave free
    priority: 1
    conda:
        "../../envs/csrbench.yaml"
    # the threads of a CSR fit: the training-time comparison runs both on the same cores
    threads: config["train"]["threads"]
    resources:
        mem_mb=train_mem_mb,
        runtime=480,
    params:
        job=finetune_params,
    script:
        "../../scripts/finetune.py"


rule embed_finetuned:
    """Embed one split with a seed's fine-tuned backbone (its validation-chosen
    checkpoint), as rule `embed` embeds with the experiment's backbone; off the eval
    split only the fields `evaluate` reads there (documents, not queries)."""
    input:
        finetuned=FINETUNE,
    output:
        directory(FT_EMBEDDINGS),
    log:
        "logs/embed_finetuned/{experiment}/seed{seed}/{split}.log",
    benchmark:
        "benchmarks/embed_finetuned/{experiment}/seed{seed}/{split}.tsv"
    priority: 1
    conda:
        "../../envs/csrbench.yaml"
    threads: config["embed"]["threads"]
    resources:
        mem_mb=embed_mem_mb,
        runtime=240,
    params:
        dataset=ft_dataset_spec,
        dataset_name=lambda w: config["experiments"][w.experiment]["dataset"],
        eval_split=lambda w: config["experiments"][w.experiment]["eval_split"],
        embed=EMBED_SETTINGS,
        resume_dir="results/embeddings-ft/{experiment}/seed{seed}/.{split}.partial",
    script:
        "../../scripts/embed.py"


rule finetune_curve:
    """Every checkpoint of one fine-tune scored on the eval split at every k (the
    experiment's headline metric): MRL's accuracy against its training time. The
    chosen checkpoint's embeddings are embed_finetuned's, read again."""
    input:
        unpack(curve_inputs),
    output:
        FT_CURVE,
    log:
        "logs/finetune_curve/{experiment}/seed{seed}.log",
    benchmark:
        "benchmarks/finetune_curve/{experiment}/seed{seed}.tsv"
    conda:
        "../../envs/csrbench.yaml"
    threads: config["embed"]["threads"]
    resources:
        mem_mb=embed_mem_mb,
        runtime=120,
    params:
        dataset=ft_dataset_spec,
        dataset_name=lambda w: config["experiments"][w.experiment]["dataset"],
        train_split=lambda w: config["experiments"][w.experiment]["train_split"],
        eval_split=lambda w: config["experiments"][w.experiment]["eval_split"],
        corpus=lambda w: corpus_splits(config["experiments"][w.experiment]),
        ks=lambda w: list(config["experiments"][w.experiment]["k"]),
        splits=lambda w: sorted(curve_inputs(w).keys() - {"finetuned"}),
        embed=EMBED_SETTINGS,
        value_dtype=mrl_ft_value_dtype,
    script:
        "../../scripts/finetune_curve.py"


rule training_time:
    """Training time as the paper counts it (Fig. 1c): each post-hoc fit plus one
    extraction of the training embeddings, against the fine-tune at each checkpoint,
    with each one's test score."""
    input:
        unpack(training_time_inputs),
    output:
        TRAINING_TIME,
    log:
        "logs/training_time/{experiment}.log",
    benchmark:
        "benchmarks/training_time/{experiment}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        training_time_job(
            input,
            output[0],
            experiment=wildcards.experiment,
            threads=config["train"]["threads"],
            log=log[0],
        )
