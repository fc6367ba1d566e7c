"""Figures: which exist, that each file is a real PNG/PDF, and what the axes say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from PIL import Image
from report_data import FITS, write_results

from csrbench.report import figures
from csrbench.report.collect import load_results
from csrbench.report.figures import save_figure

PER_EXPERIMENT = {
    "digits-mini": {
        "accuracy_vs_k",
        "accuracy_vs_time",
        "accuracy_vs_bytes",
        "time_vs_database_size",
    },
    "digits-wide": {"accuracy_vs_k", "accuracy_vs_bytes"},
    "imagenet-rn50": {"accuracy_vs_k", "accuracy_vs_bytes"},
    "coco-clip": {"accuracy_vs_k", "accuracy_vs_bytes"},
    "code-mini": {"accuracy_vs_k", "accuracy_vs_time", "accuracy_vs_bytes"},
}
GLOBAL = {"dead_latents_vs_k", "training_time", "accuracy_vs_h"}


def labels(fig: Figure) -> list[tuple[str, str]]:
    return [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes if ax.get_visible()]


def test_every_figure_as_png_and_pdf(built) -> None:
    _, figures_dir, _ = built
    expected = {f"{e}_{n}" for e, names in PER_EXPERIMENT.items() for n in names} | GLOBAL
    assert {p.stem for p in figures_dir.iterdir()} == expected
    for name in expected:
        png, pdf = figures_dir / f"{name}.png", figures_dir / f"{name}.pdf"
        with Image.open(png) as im:
            im.verify()
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200
        with Image.open(png) as im:
            assert im.text.get("Title") == name
        head = pdf.read_bytes()
        assert head.startswith(b"%PDF-") and head.rstrip().endswith(b"%%EOF")
    assert not [p for p in figures_dir.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def results(results_root: Path):
    return load_results(root=results_root)


def test_accuracy_vs_k_axes_and_paper_markers(results) -> None:
    fig = figures.accuracy_vs_k(results, "digits-mini")
    assert labels(fig) == [
        ("active dimensions k (log scale)", "1-NN top-1 (%)"),
        ("active dimensions k (log scale)", "Linear-probe top-1 (%)"),
    ]
    ax = fig.axes[0]
    csr = next(line for line in ax.get_lines() if line.get_label() == "CSR")
    assert list(csr.get_xdata()) == [8, 16] and list(csr.get_ydata()) == [61.0, 65.25]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "16"]
    paper = figures.accuracy_vs_k(results, "imagenet-rn50")
    names = {line.get_label() for line in paper.axes[0].get_lines()}
    assert {"CSR (paper)", "MRL (paper)", "SAE (paper)", "MRL-E (paper)"} <= names
    ours = {line.get_label() for line in fig.axes[0].get_lines()}
    assert not any("(paper)" in n for n in ours)


def test_text_and_image_text_panels(results) -> None:
    text = figures.accuracy_vs_k(results, "code-mini")
    assert [y for _, y in labels(text)] == [
        "nDCG@10 (%)",
        "Recall@10 (%)",
        "Classification accuracy (%)",
        "Clustering V-measure (%)",
    ]
    crossmodal = figures.accuracy_vs_k(results, "coco-clip")
    assert [y for _, y in labels(crossmodal)] == [
        "I2T Recall@5 (%)",
        "T2I Recall@5 (%)",
        "I2T Recall@1 (%)",
        "T2I Recall@1 (%)",
    ]


def test_accuracy_vs_time_uses_fastest_engine(results) -> None:
    fig = figures.accuracy_vs_time(results, "digits-mini")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert labels(fig) == [("ms per query (log scale, fastest engine)", "1-NN top-1 (%)")]
    points = {line.get_label(): list(line.get_xydata()) for line in ax.get_lines()}
    assert [list(p) for p in points["CSR"]] == [[0.2, 61.0]]  # k16 has no bench file
    assert [list(p) for p in points["Full"]] == [[1.0, 71.25]]
    assert figures.accuracy_vs_time(results, "imagenet-rn50") is None  # no bench files


def test_bytes_scaling_training_figures(results) -> None:
    assert labels(figures.accuracy_vs_bytes(results, "digits-mini")) == [
        ("bytes per document (log scale)", "1-NN top-1 (%)")
    ]
    scaling = figures.time_vs_database_size(results, "digits-mini")
    ax = scaling.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert labels(scaling) == [
        ("database size n (documents, log scale)", "ms per query (log scale)")
    ]
    sparse = next(line for line in ax.get_lines() if line.get_label() == "CSR k=8 (torch-csr)")
    assert list(sparse.get_xdata()) == [1000, 10000, 100000]
    assert list(sparse.get_ydata()) == pytest.approx([0.5, 5.0, 50.0])
    assert figures.time_vs_database_size(results, "code-mini") is None

    dead = figures.dead_latents_vs_k(results)
    assert [ax.get_title() for ax in dead.axes] == ["digits-mini", "digits-wide"]
    assert labels(dead)[0] == ("active dimensions k (log scale)", "dead latents (%)")
    line = dead.axes[0].get_lines()[0]
    assert list(line.get_ydata()) == [
        100 * FITS[("digits-mini", "csr", f"k{k}")][1] for k in (8, 16)
    ]

    train = figures.training_time(results)
    assert all(x == "fit wall time (s, log scale)" for x, _ in labels(train))
    widths = sorted(p.get_width() for p in train.axes[0].patches)
    assert widths == sorted(v[0] for (e, _, _), v in FITS.items() if e == "digits-mini")


def test_accuracy_vs_h_only_with_two_h(results, tmp_path: Path) -> None:
    fig = figures.accuracy_vs_h(results)
    assert labels(fig) == [("hidden size h (log scale)", "1-NN top-1 (%)")]
    line = next(x for x in fig.axes[0].get_lines() if x.get_label() == "CSR k=8")
    assert list(line.get_xdata()) == [256, 512] and list(line.get_ydata()) == [61.0, 63.0]
    one_h = write_results(tmp_path / "results", scaling=False)
    for path in (one_h / "models" / "digits-wide").rglob("summary.json"):
        path.unlink()
    assert figures.accuracy_vs_h(load_results(root=one_h)) is None


def test_accuracy_vs_h_never_joins_two_backbones(tmp_path: Path) -> None:
    """Two experiments at different h but on backbones of different width d are not an
    h sweep (the default run: digits at h = 5120, pycode at h = 1536)."""
    root = write_results(tmp_path / "results", scaling=False)
    for path in (root / "models" / "digits-wide").rglob("summary.json"):
        body = json.loads(path.read_text())
        path.write_text(json.dumps({**body, "d": 128}))
    assert figures.accuracy_vs_h(load_results(root=root)) is None


def test_no_scaling_files_no_scaling_figure(tmp_path: Path) -> None:
    root = write_results(tmp_path / "results", scaling=False)
    names = [name for name, _ in figures.build_figures(load_results(root=root))]
    assert not [n for n in names if "database_size" in n]
    assert "digits-mini_accuracy_vs_k" in names


def test_save_figure_is_atomic(tmp_path: Path, results, monkeypatch) -> None:
    fig = figures.accuracy_vs_bytes(results, "digits-mini")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError):
        save_figure(fig, tmp_path, "x")
    assert list(tmp_path.iterdir()) == []
