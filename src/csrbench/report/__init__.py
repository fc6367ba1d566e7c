"""Tables and figures from the pipeline's result JSON files, and nothing else.

The report stage reads only the small JSON files a run leaves under `results/`
(per-seed aggregated metrics, retrieval timings, scaling sweeps, training summaries,
paired comparisons, tuning trials), so a fresh clone with committed results rebuilds
every table and figure in seconds without any embedding, model or code. Modules, one
concept each:

- `files`: where result files live and how to find them (stdlib only: the workflow
  imports it while it parses), and `VerdictText`, which report captions read;
- `collect`: result JSON files -> pandas DataFrames (each metric with its seed interval);
- `spread`: seed intervals as the tables show them (the "±" columns, the seed caption);
- `paper`: the paper's published numbers and the table each comes from;
- `table`: one table written as CSV, Markdown and LaTeX;
- `tables`: the paper-layout accuracy tables and the training table;
- `stat_tables`: the paired-significance and validation-tuning tables;
- `verdicts`: the sentences generated from the paired tests, per experiment;
- `style` / `plot` / `figures` / `training_figures`: one matplotlib style, the shared
  plotting helpers, and every figure, written as PNG and PDF;
- writes go through `csrbench.atomic` (write-then-rename): an interrupted report never
  leaves a half file;
- `build`: all of the above in one call (what `scripts/report.py` runs).
"""
