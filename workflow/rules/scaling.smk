rule scaling:
    """Retrieval time vs database size on synthetic codes with one model's latent usage."""
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
        "results/scaling/{experiment}/{method}/{cbudget}.json",
    log:
        "logs/scaling/{experiment}/{method}/{cbudget}.log",
    benchmark:
        "benchmarks/scaling/{experiment}/{method}/{cbudget}.tsv"
    conda:
        "../../envs/csrbench.yaml"
    # a whole small machine (capped at --cores): other jobs would disturb the timings
    threads: 8
    resources:
        mem_mb=scaling_mem_mb,
        runtime=120,
    params:
        train_split=lambda w: config["experiments"][w.experiment]["train_split"],
        sizes=config["evaluate"]["scaling"]["sizes"],
        gpu_sizes=config["evaluate"]["scaling"]["gpu_sizes"],
        repeats=config["evaluate"]["scaling"]["repeats"],
    script:
        "../../scripts/scaling.py"
