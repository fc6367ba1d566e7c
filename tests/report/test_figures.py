"""Figures: which exist, that each file is a real PNG/PDF, and what the axes say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from PIL import Image
from report_data import DIGITS, FITS, TEXT, TEXT_OFFSETS, write_results

from csrbench.report import figures
from csrbench.report.collect import load_results
from csrbench.report.figures import save_figure
from csrbench.stats import seed_interval

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


def bars(ax: Axes, with_x: bool = False) -> list[float]:
    """[x,] centre, half-width of every vertical error bar on `ax`, sorted by x then
    centre, flattened (so that pytest.approx compares it)."""
    out = []
    for container in ax.containers:
        if not isinstance(container, ErrorbarContainer):
            continue
        for segment in container.lines[2][0].get_segments():
            (x, low), (_, high) = segment
            out.append((x, (low + high) / 2, (high - low) / 2))
    return [v for bar in sorted(out) for v in (bar if with_x else bar[1:])]


def legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


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
    assert "\n50,000 documents, " in fig.get_suptitle()  # the database size is in the title
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
    per_seed = [FITS[("digits-mini", "csr", f"k{k}")][2] for k in (8, 16)]
    assert list(line.get_ydata()) == pytest.approx([100 * np.mean(v) for v in per_seed])
    expected = [(100 * np.mean(v), 100 * seed_interval(v).half_width) for v in per_seed]
    assert bars(dead.axes[0]) == pytest.approx([v for bar in expected for v in bar])
    assert bars(dead.axes[1]) == []  # digits-wide: one fit, old layout, no interval
    assert "error bars: mean ± 95% interval over 3 seeds" in legend_texts(dead)

    train = figures.training_time(results)
    assert all(x == "fit wall time (s, log scale)" for x, _ in labels(train))
    widths = sorted(p.get_width() for p in train.axes[0].patches)
    mini = [v for (e, _, _), v in FITS.items() if e == "digits-mini"]
    assert widths == pytest.approx(sorted(np.mean(v[1]) for v in mini))
    dots = train.axes[0].collections[0].get_offsets()[:, 0]
    assert sorted(dots) == sorted(s for v in mini for s in v[1])  # one dot per seed
    ticks = [t.get_text() for t in train.axes[0].get_yticklabels()]
    assert ticks[0] == "CSR k=8 (3 seeds)" and ticks[-1] == "Full"


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


def test_accuracy_vs_k_error_bars_are_the_seed_intervals(results) -> None:
    fig = figures.accuracy_vs_k(results, "digits-mini")
    for ax, col in zip(fig.axes, (1, 2), strict=True):
        expected = []
        for method in ("csr", "mrl"):  # three seeds each; pca and full have one: no bar
            for k in (8, 16):
                interval = seed_interval(DIGITS[(method, k)][col])
                expected.append((k, 100 * interval.mean, 100 * interval.half_width))
        assert bars(ax, with_x=True) == pytest.approx([v for bar in sorted(expected) for v in bar])
    assert "error bars: mean ± 95% interval over 3 seeds" in legend_texts(fig)
    # older single-run files: no bar, no note
    old = figures.accuracy_vs_k(results, "imagenet-rn50")
    assert not old.axes[0].containers
    assert not [t for t in legend_texts(old) if "interval" in t]


@pytest.mark.parametrize("make", ["accuracy_vs_bytes", "accuracy_vs_time"])
def test_bytes_and_time_figures_draw_the_seed_interval(results, make: str) -> None:
    fig = getattr(figures, make)(results, "code-mini")
    per_seed = [TEXT[("csr", 8)]["ndcg@10"] + o for o in TEXT_OFFSETS]
    interval = seed_interval(per_seed)
    assert bars(fig.axes[0]) == pytest.approx([100 * interval.mean, 100 * interval.half_width])
    assert "error bars: mean ± 95% interval over 3 seeds" in legend_texts(fig)


def test_coinciding_points_get_separate_k_labels(results) -> None:
    """CSR k16 and PCA k16 sit at the same bytes and nearly the same accuracy: their "16"
    labels must not be printed on top of each other."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = figures.accuracy_vs_bytes(results, "digits-mini")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts]
    overlapping = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]
    assert len(boxes) == sum(1 for (_, k), e in DIGITS.items() if e[4] > 0) and not overlapping


def test_a_point_label_is_not_written_across_a_line() -> None:
    """A line leaves the point up and to the right, through the spot its label would take
    first: the label goes to another spot, clear of the line."""
    from csrbench.report.plot import LABEL_SPOTS, label_points

    fig = Figure(figsize=(3, 3), dpi=100)
    ax = fig.add_subplot()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.plot([5, 10], [5, 10], color="C0")
    label_points(fig, ax, [(5.0, 5.0, "88", "C0")])
    (note,) = ax.texts
    assert note.xyann != LABEL_SPOTS[0]
    assert note.xyann in LABEL_SPOTS


def test_time_vs_size_names_every_line_and_floor_at_its_end(tmp_path: Path) -> None:
    from report_data import metric, put

    root = tmp_path / "results"
    metric(root, "speed", "csr", 32, {"ndcg@10": 0.5})
    sizes = (10_000, 30_000, 100_000, 1_000_000)
    rows = [
        {"engine": e, "kind": kind, "n": n, "ms_per_batch": 512 * t * n, "ms_per_query": t * n,
         "floor_ms": 512 * f * n}
        for e, kind, t, f in (
            ("inverted", "sparse", 1e-6, 2e-7),
            ("torch-csr", "sparse", 9e-6, 2e-8),
            ("faiss", "dense", 5e-6, 1e-7),
            ("torch", "dense", 8e-6, 1e-7),  # the same bytes to read as faiss: one floor
        )
        for n in sizes
    ]  # fmt: skip
    put(root / "scaling/speed/csr/k32.json", {"k": 32, "d": 384, "h": 1536, "results": rows})
    fig = figures.time_vs_database_size(load_results(root=root), "speed")
    (ax,) = fig.axes
    names = sorted(t.get_text() for t in ax.texts)
    engines = ["inverted", "torch-csr", "faiss", "torch"]
    assert names == sorted([*engines, "floor: inverted", "floor: torch-csr", "floor: faiss, torch"])
    for text in ax.texts:  # each name sits at its line's last point, n = 1M
        assert text.xy[0] == 1_000_000
    floors = [line for line in ax.get_lines() if line.get_label().startswith("memory-bandwidth")]
    assert len(floors) == 3
    fig.draw_without_rendering()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert {"10k", "100k", "1M"} <= set(ticks)
    assert figures.count_label(30_000) == "30k" and figures.count_label(2.5e6) == "2.5M"
