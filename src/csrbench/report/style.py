"""One plotting style for every figure: Okabe-Ito colours, a marker and a line style per
method, so a method looks the same in every figure and stays distinguishable in
grey-scale print and for colour-blind readers.

CSR-family methods are solid lines, the Matryoshka ones dashed, the baselines dotted;
the unbudgeted methods (the full embedding and its quantisations) are horizontal
reference lines. Every registered method has a style here (a test checks it against
`csrbench.methods.REGISTRY`).
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never a display

# Okabe & Ito (2008), "Color Universal Design"
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#7F7F7F",
}

METHOD_STYLES: dict[str, dict[str, Any]] = {
    "csr": {"color": OKABE_ITO["vermillion"], "marker": "o", "linestyle": "-"},
    "csr-v2": {"color": OKABE_ITO["reddish_purple"], "marker": "P", "linestyle": "-"},
    "sae": {"color": OKABE_ITO["orange"], "marker": "s", "linestyle": "-"},
    # a released CSR: CSR's colour, its own marker and a dash-dot line
    "csr-st": {"color": OKABE_ITO["vermillion"], "marker": "X", "linestyle": "-."},
    "mrl": {"color": OKABE_ITO["blue"], "marker": "^", "linestyle": "--"},
    "mrl-e": {"color": OKABE_ITO["sky_blue"], "marker": "v", "linestyle": "--"},
    # the paper's MRL: its colour, a solid line (the heads are dashed)
    "mrl-ft": {"color": OKABE_ITO["sky_blue"], "marker": "<", "linestyle": "-"},
    "pca": {"color": OKABE_ITO["bluish_green"], "marker": "D", "linestyle": ":"},
    "trunc": {"color": OKABE_ITO["grey"], "marker": "x", "linestyle": ":"},
    # yellow needs a dark edge to survive print
    "randfs": {
        "color": OKABE_ITO["yellow"],
        "marker": "*",
        "linestyle": ":",
        "markeredgecolor": OKABE_ITO["black"],
    },
    "full": {"color": OKABE_ITO["black"], "marker": "o", "linestyle": "-"},
    "int8": {"color": OKABE_ITO["grey"], "marker": "h", "linestyle": "-."},
    "binary": {"color": OKABE_ITO["grey"], "marker": "d", "linestyle": (0, (1, 3))},
}
_DEFAULT = {"color": OKABE_ITO["grey"], "marker": ".", "linestyle": "-"}

RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "legend.frameon": False,
    "savefig.dpi": 150,  # the PNG is for screens; print uses the PDF
    "savefig.bbox": "tight",  # never clip a long legend or label
    "pdf.fonttype": 42,  # TrueType in the PDF: text stays editable and searchable
    "svg.fonttype": "none",
}

PANEL_SIZE = (3.6, 2.8)  # inches per subplot: one column of a two-column paper


def method_style(method: str) -> dict[str, Any]:
    """Colour, marker and line style of a method (unknown methods: grey dots)."""
    return dict(METHOD_STYLES.get(method, _DEFAULT))


def paper_style(method: str) -> dict[str, Any]:
    """The paper's reference points: the method's marker, hollow, no line."""
    style = method_style(method)
    return {
        "color": style["color"],
        "marker": style["marker"],
        "linestyle": "none",
        "markerfacecolor": "none",
        "markersize": 7,
        "markeredgewidth": 1.3,
    }
