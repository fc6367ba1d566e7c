# Tables and figures from the result JSON files alone (src/csrbench/report).
#
# Two rules write the same outputs. `figures` reads every result JSON on disk, each
# flagged before_update so that Snakemake seeks no producer for it: on a fresh clone
# with committed results it plans only itself (no embed, train, evaluate or
# bench job), for any experiment, named in the current config or not. `report_run`
# is the full run's last step (rule all): it waits for every metric, timing and fit of
# the config, and reads any other result on disk as `figures` does.
# Helpers (results_on_disk, run_results, all_training_summaries) are in common.smk.


rule figures:
    """Every table and figure from the result JSON files on disk: seconds, no upstream job."""
    input:
        results_on_disk,
    output:
        tables=report(
            directory("results/tables"),
            patterns=["{name}.csv"],
            caption="../report/tables.rst",
            category="Tables",
        ),
        figures=report(
            directory("results/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        "logs/report/figures.log",
    benchmark:
        "benchmarks/report/figures.tsv"
    localrule: True
    conda:
        "../../envs/csrbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        # each experiment's generated verdicts open its captions in `snakemake --report`
        verdicts=VerdictText("results/tables"),
    script:
        "../../scripts/report.py"


use rule figures as report_run with:
    input:
        run_results,
    log:
        "logs/report/report_run.log",
    benchmark:
        "benchmarks/report/report_run.tsv"


ruleorder: report_run > figures
