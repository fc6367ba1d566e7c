rule evaluate:
    """Encode an experiment's splits with one fitted method at one budget and seed, and
    score the codes on the test split: every metric its data supports, with the per-item
    scores behind each mean. One job does both because each is a second of work next to
    the process and torch start-up; the codes stay cached for `bench` and `scaling`."""
    input:
        unpack(
            lambda w: {"model": model_for_codes(w), **experiment_split_embeddings(w)}
        ),
    output:
        codes=directory(CODES),
        metrics="results/metrics/{experiment}/{method}/{cbudget}/seed{seed}.json",
        scores="results/metrics/{experiment}/{method}/{cbudget}/seed{seed}.items.npz",
    log:
        "logs/evaluate/{experiment}/{method}/{cbudget}/seed{seed}.log",
    benchmark:
        "benchmarks/evaluate/{experiment}/{method}/{cbudget}/seed{seed}.tsv"
    conda:
        "../../envs/csrbench.yaml"
    threads: 1
    resources:
        mem_mb=train_mem_mb,
        runtime=120,
    params:
        k=lambda w: Budget.parse(w.cbudget).k,
        train_split=lambda w: config["experiments"][w.experiment]["train_split"],
        eval_split=lambda w: config["experiments"][w.experiment]["eval_split"],
        splits=lambda w: sorted(experiment_split_embeddings(w)),
        corpus=lambda w: corpus_splits(config["experiments"][w.experiment]),
        linear_probe=config["evaluate"]["linear_probe"],
    script:
        "../../scripts/evaluate.py"


rule aggregate:
    """One (method, budget)'s metrics over its seeds: mean, std and 95% interval. A run
    block, which the workflow profile's force-use-threads runs in a thread of Snakemake's
    own process: reading a few JSON files costs less than starting a Python, and there
    are dozens of these jobs."""
    input:
        unpack(seed_metrics),
    output:
        "results/metrics/{experiment}/{method}/{cbudget}.json",
    log:
        "logs/aggregate/{experiment}/{method}/{cbudget}.log",
    benchmark:
        "benchmarks/aggregate/{experiment}/{method}/{cbudget}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        aggregate_job(seed_inputs(input), output[0], log=log[0])


rule compare:
    """Paired tests of CSR against every other method of an experiment, at equal k and at
    equal bytes, on per-item test scores pooled over seeds."""
    input:
        unpack(experiment_metrics),
    output:
        "results/compare/{experiment}.json",
    log:
        "logs/compare/{experiment}.log",
    benchmark:
        "benchmarks/compare/{experiment}.tsv"
    conda:
        "../../envs/csrbench.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/compare.py"


rule bench:
    """Time retrieval on one (method, budget)'s codes (seed 0: the speed of a code does not
    depend on its training seed): every engine, batches of 512 queries."""
    input:
        unpack(
            lambda w: {
                "codes": CODES.format(**w, seed=0),
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
        corpus=lambda w: corpus_splits(config["experiments"][w.experiment]),
    script:
        "../../scripts/bench.py"


rule frontier:
    """Accuracy against bytes per document for every (method, k, codec) of an experiment:
    codecs calibrated on the training split, the database stored at each codec, queries
    at full precision; the Pareto frontier, and per byte budget the best configuration
    with a paired test against the best of any other method."""
    input:
        unpack(frontier_inputs),
    output:
        "results/frontier/{experiment}.json",
    log:
        "logs/frontier/{experiment}.log",
    benchmark:
        "benchmarks/frontier/{experiment}.tsv"
    conda:
        "../../envs/csrbench.yaml"
    threads: 1
    resources:
        mem_mb=train_mem_mb,
        runtime=30,
    params:
        train_split=lambda w: config["experiments"][w.experiment]["train_split"],
        eval_split=lambda w: config["experiments"][w.experiment]["eval_split"],
        codecs=config["evaluate"]["codecs"],
        corpus=lambda w: corpus_splits(config["experiments"][w.experiment]),
    script:
        "../../scripts/frontier.py"
