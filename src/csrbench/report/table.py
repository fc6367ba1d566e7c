"""One table and its three files: CSV for other tools, Markdown and LaTeX for readers.

The CSV keeps every number at full precision in its own column, the seed interval's
half-width included ("CSR ±"), so a script can read it back. Markdown and LaTeX print
at `Table.digits` decimals (the paper's two) and fold each "X ±" column into the cell
before it, "61.00 ± 1.23", which is how a reader expects a mean and its interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from csrbench.atomic import write_text
from csrbench.report.spread import SPREAD_SUFFIX


@dataclass
class Table:
    """One table: `name` is the file stem under results/tables/; `column_digits`
    overrides `digits` for some columns (p-values need more than two decimals)."""

    name: str
    title: str
    caption: str
    frame: pd.DataFrame
    digits: int = 2
    column_digits: dict[str, int] = field(default_factory=dict)


def formatted(table: Table, missing: str = "", fold_spread: bool = True) -> pd.DataFrame:
    """The table flattened (index levels become columns) with every cell as text:
    floats at their decimals, integers as integers, missing values as `missing`; with
    `fold_spread`, each "X ±" column joins X's cell as "value ± half-width"."""
    flat = table.frame.reset_index()
    out = pd.DataFrame(index=flat.index)
    for col in flat.columns:
        values = flat[col]
        digits = table.column_digits.get(col, table.digits)
        if pd.api.types.is_float_dtype(values):
            out[col] = [missing if pd.isna(v) else f"{v:.{digits}f}" for v in values]
        else:
            out[col] = [missing if pd.isna(v) else str(v) for v in values]
    if fold_spread:
        for col in list(out.columns):
            base = col[: -len(SPREAD_SUFFIX)] if col.endswith(SPREAD_SUFFIX) else None
            if base is not None and base in out.columns:
                out[base] = [
                    f"{v} ± {h}" if v != missing and h != missing else v
                    for v, h in zip(out[base], out[col], strict=True)
                ]
                out = out.drop(columns=col)
    return out


def _numeric_columns(table: Table) -> set[str]:
    flat = table.frame.reset_index()
    return {c for c in flat.columns if pd.api.types.is_numeric_dtype(flat[c])}


def to_markdown(table: Table) -> str:
    cells = formatted(table)
    numeric = _numeric_columns(table)
    align = ["right" if c in numeric else "left" for c in cells.columns]
    body = cells.to_markdown(index=False, disable_numparse=True, colalign=align)
    return f"## {table.title}\n\n{table.caption}\n\n{body}\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (pandas escapes cells, not the caption)."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def to_latex(table: Table) -> str:
    cells = formatted(table, missing="--")
    numeric = _numeric_columns(table)
    label = "tab:" + "".join(c if c.isalnum() else "-" for c in table.name)
    return cells.to_latex(
        index=False,
        caption=latex_escape(table.caption),
        label=label,
        escape=True,
        column_format="".join("r" if c in numeric else "l" for c in cells.columns),
    )


def write_table(table: Table, out_dir: str | Path) -> list[Path]:
    """Write `<name>.csv`, `.md` and `.tex` under `out_dir`, each atomically."""
    out_dir = Path(out_dir)
    return [
        write_text(out_dir / f"{table.name}.csv", table.frame.to_csv()),
        write_text(out_dir / f"{table.name}.md", to_markdown(table)),
        write_text(out_dir / f"{table.name}.tex", to_latex(table)),
    ]
