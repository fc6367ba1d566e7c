"""Tables and figures from the pipeline's result JSON files, and nothing else.

The report stage reads only the small JSON files a run leaves under `results/`
(metrics, retrieval timings, scaling sweeps, training summaries), so a fresh clone with
committed results rebuilds every table and figure in seconds without any embedding,
model or code. Modules, one concept each:

- `files`: where result files live and how to find them (stdlib only: the workflow
  imports it while it parses);
- `collect`: result JSON files -> pandas DataFrames;
- `paper`: the paper's published numbers and the table each comes from;
- `tables`: the paper-layout tables, written as CSV, Markdown and LaTeX;
- `style` / `figures`: one matplotlib style and every figure, written as PNG and PDF;
- writes go through `csrbench.atomic` (write-then-rename): an interrupted report never
  leaves a half file;
- `build`: all of the above in one call (what `scripts/report.py` runs).
"""
