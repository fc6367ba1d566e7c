"""The paper's published numbers (Wen et al., ICML 2025, arXiv 2503.01776), by table.

Only numbers stated in the project's design notes are recorded here; a table of an
experiment the paper did not run says so in its caption instead of showing a number.
An experiment counts as the paper's when it has the name the paper configs give it
(`config/paper/*.yaml`): `imagenet-rn50`, `fiqa`, `nfcorpus`, `scifact`, `coco-clip`.
Values are percentages, as printed in the paper; `k = None` is the full-dimension row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

CITATION = "Wen et al., ICML 2025"

# The paper's MRL trains the backbone with nested losses: its numbers sit beside our
# `mrl-ft` (a fine-tuned backbone, or a published MRL checkpoint given as
# `finetune.backbone`), not beside the frozen head `mrl`. Its MRL-E also trains the
# backbone; we have no fine-tuned MRL-E, so its numbers sit beside the nearest method,
# the weight-shared head `mrl-e`. Markers carry the paper's own names.
PAPER_NAMES = {"mrl-ft": "MRL", "mrl-e": "MRL-E", "csr": "CSR", "sae": "SAE", "full": "Full"}


def paper_label(method: str) -> str:
    """What the paper calls the method whose numbers are recorded under `method`."""
    return PAPER_NAMES.get(method, method)


@dataclass(frozen=True)
class PaperValue:
    experiment: str
    table: str  # where the number is printed, e.g. "Table 4"
    metric: str  # our metric name (see csrbench.evaluate)
    method: str  # our method name
    k: int | None  # None: the full-dimension row
    value: float  # percent


def _table4() -> list[PaperValue]:
    """ImageNet-1k 1-NN top-1 of ResNet-50 features (d = 2048)."""
    rows = {
        8: (62.19, 57.45, 67.14, 67.78),
        16: (67.91, 67.05, 68.14, 69.17),
        32: (69.46, 68.60, 68.91, 70.15),
        64: (70.17, 69.61, 69.69, 70.94),
        None: (70.97, 71.21, 71.24, 71.20),
    }
    return [
        PaperValue("imagenet-rn50", "Table 4", "knn1_top1", method, k, value)
        for k, values in rows.items()
        for method, value in zip(("mrl-ft", "mrl-e", "sae", "csr"), values, strict=True)
    ]


def _table1() -> list[PaperValue]:
    """MTEB retrieval nDCG@10, NV-Embed-v2 (d = 4096), CSR at k = 32 with h = 16384."""
    values = {"fiqa": (57.54, 62.65), "nfcorpus": (38.06, 43.97), "scifact": (71.17, 77.93)}
    out = []
    for task, (csr, full) in values.items():
        out.append(PaperValue(task, "Table 1", "ndcg@10", "csr", 32, csr))
        out.append(PaperValue(task, "Table 1", "ndcg@10", "full", None, full))
    return out


def _table2() -> list[PaperValue]:
    """MS-COCO 5k Recall@5 of CLIP ViT-B/16, image->text and text->image, at k = 256."""
    values = {
        ("mrl-ft", 256): (67.12, 77.53),
        ("csr", 256): (71.41, 83.49),
        ("full", None): (74.42, 86.47),
    }
    return [
        PaperValue("coco-clip", "Table 2", metric, method, k, value)
        for (method, k), pair in values.items()
        for metric, value in zip(("i2t_recall@5", "t2i_recall@5"), pair, strict=True)
    ]


PAPER_VALUES: tuple[PaperValue, ...] = (*_table4(), *_table1(), *_table2())
PAPER_EXPERIMENTS: frozenset[str] = frozenset(v.experiment for v in PAPER_VALUES)


def paper_values(experiment: str, metric: str | None = None) -> pd.DataFrame:
    """The paper's numbers for one experiment (optionally one metric) as a DataFrame with
    columns experiment, table, metric, method, k, value; empty when it has none."""
    rows = [
        v.__dict__
        for v in PAPER_VALUES
        if v.experiment == experiment and (metric is None or v.metric == metric)
    ]
    return pd.DataFrame(rows, columns=["experiment", "table", "metric", "method", "k", "value"])


def paper_tables(experiment: str, metric: str) -> list[str]:
    """The paper tables a (experiment, metric) comes from, e.g. ["Table 4"]."""
    return sorted(set(paper_values(experiment, metric)["table"]))
