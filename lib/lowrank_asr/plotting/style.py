"""One place for the look of every figure: sizes, fonts, colour maps, and the atomic PNG writer.

Figures are built with the object-oriented API (``matplotlib.figure.Figure`` + the Agg canvas), never
``pyplot``: no global figure state, no GUI backend, safe in workers and threads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 130
LANDSCAPE_FIGSIZE = (12.0, 5.2)  # inches: contour left, surface right
ATTRIBUTION_WIDTH = 11.0  # inches; height grows with the number of utterances
TRAINING_FIGSIZE = (12.0, 4.4)

LANDSCAPE_CMAP = "viridis"
SPECTROGRAM_CMAP = "magma"
ATTRIBUTION_CMAP = "RdBu_r"  # diverging: red = raises the attributed score, blue = lowers it
POSITIVE_COLOR = "#b2182b"
NEGATIVE_COLOR = "#2166ac"
WAVE_COLOR = "#444444"
CENTRE_MARKER = {"marker": "*", "color": "white", "markeredgecolor": "black", "markersize": 13, "zorder": 5}

RC = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "figure.titlesize": 13,
    "figure.titleweight": "bold",
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.interpolation": "nearest",
    "savefig.facecolor": "white",
}


@contextmanager
def style() -> Iterator[None]:
    """Apply the project's rc settings for the figures built inside the block."""
    with mpl.rc_context(RC):
        yield


def new_figure(figsize: tuple[float, float], *, layout: str | None = "constrained") -> Figure:
    """A figure attached to an Agg canvas (no pyplot)."""
    fig = Figure(figsize=figsize, dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out_png: str | os.PathLike) -> Path:
    """Write ``fig`` as PNG atomically (temporary name next to the target, then rename)."""
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        fig.savefig(tmp, format="png", dpi=DPI)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def variant_colors(variants: Sequence[str]) -> dict[str, str]:
    """One fixed colour per variant (tab10 in the given order), the same in every figure."""
    cmap = colormaps["tab10"]
    return {v: cmap(i % 10) for i, v in enumerate(variants)}
