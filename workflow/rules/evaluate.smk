rule evaluate:
    """Score one (method, budget) of an experiment: every metric its data supports."""
    input:
        unpack(
            lambda w: {
                "codes": CODES.format(**w),
                **experiment_split_embeddings(w),
            }
        ),
    output:
        "results/metrics/{experiment}/{method}/{cbudget}.json",
    log:
        "logs/evaluate/{experiment}/{method}/{cbudget}.log",
    benchmark:
        "benchmarks/evaluate/{experiment}/{method}/{cbudget}.tsv"
    conda:
        "../../envs/csrbench.yaml"
    threads: 1
    resources:
        mem_mb=train_mem_mb,
        runtime=120,
    params:
        train_split=lambda w: config["experiments"][w.experiment]["train_split"],
        eval_split=lambda w: config["experiments"][w.experiment]["eval_split"],
        splits=lambda w: sorted(experiment_split_embeddings(w)),
        linear_probe=config["evaluate"]["linear_probe"],
    script:
        "../../scripts/evaluate.py"


rule bench:
    """Time retrieval on one (method, budget)'s codes: every engine, batches of 512 queries."""
    input:
        unpack(
            lambda w: {
                "codes": CODES.format(**w),
                "eval": experiment_embeddings(
                    w.experiment, config["experiments"][w.experiment]["eval_split"]
                ),
            }
        ),
    output:
        "results/bench/{experiment}/{method}/{cbudget}.json",
    log:
        "logs/bench/{experiment}/{method}/{cbudget}.log",
    benchmark:
        "benchmarks/bench/{experiment}/{method}/{cbudget}.tsv"
    conda:
        "../../envs/csrbench.yaml"
    threads: 1  # single-core timings: two bench jobs can share a 2-core laptop
    resources:
        mem_mb=train_mem_mb,
        runtime=60,
    params:
        train_split=lambda w: config["experiments"][w.experiment]["train_split"],
        eval_split=lambda w: config["experiments"][w.experiment]["eval_split"],
        repeats=config["evaluate"]["speed_repeats"],
    script:
        "../../scripts/bench.py"
