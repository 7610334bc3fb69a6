"""Figures of what the variants learned (issue 12), drawn from the representation files.

- ``plot_effective_rank``: effective rank per block over epochs, one line per variant; top row the conv kernels
  (mean over the block's convs of the effective rank of W as [k·c, o]), bottom row the block's output covariance.
- ``plot_spectra``: one panel per block, the normalised spectra (σ/σ₁ of the block's conv kernels, λ/λ₁ of its
  output covariance) on a log scale, one colour per variant; ``spectra_limits`` gives the y range shared by
  every epoch's frame so the frames of the video are comparable.
- ``plot_cka_final``: per variant a block × epoch heat map of the CKA of each epoch's block against the same
  block of the final epoch (which blocks settle first).
- ``plot_cka_variants``: block × block CKA heat maps between every pair of variants at the given epochs.

Inputs are what ``representations.io`` reads (nested dicts).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from lowrank_asr.errors import PipelineError
from lowrank_asr.plotting import style as st
from lowrank_asr.plotting.style import variant_colors

PANEL = (2.6, 2.4)  # inches per panel
CKA_CMAP = "viridis"
SPECTRUM_FLOOR = (
    1e-6  # normalised spectra below this are drawn at it (log scale; exact zeros of rank-deficient W)
)
KERNEL_STYLE = {"linestyle": "--", "linewidth": 1.0, "alpha": 0.8}
ACTIVATION_STYLE = {"linestyle": "-", "linewidth": 1.6}


def _kernels_of(rep: Mapping, block: str) -> list[dict]:
    group = rep.get("kernels", {}).get(block, {})
    return [group[k] for k in sorted(group) if k != "attrs" and isinstance(group[k], Mapping)]


def kernel_effective_rank(rep: Mapping, block: str) -> float:
    """Mean effective rank of the block's conv kernels (W as [k·c, o]); NaN when the block has none."""
    ranks = [float(k["attrs"]["effective_rank"]) for k in _kernels_of(rep, block)]
    return float(np.mean(ranks)) if ranks else float("nan")


def activation_effective_rank(rep: Mapping, block: str) -> float:
    return float(rep["activations"][block]["attrs"]["effective_rank"])


def _normalised(values) -> np.ndarray:
    v = np.sort(np.abs(np.asarray(values, np.float64)))[::-1]
    if not v.size or v[0] <= 0:
        return np.full(v.shape, SPECTRUM_FLOOR)
    return np.maximum(v / v[0], SPECTRUM_FLOOR)


def block_spectra(rep: Mapping, block: str) -> tuple[list[np.ndarray], np.ndarray]:
    """(normalised singular values of each conv kernel of the block, normalised output eigenvalues)."""
    return (
        [_normalised(k["singular_values"]) for k in _kernels_of(rep, block)],
        _normalised(rep["activations"][block]["eigenvalues"]),
    )


def spectra_limits(reps: Sequence[Mapping]) -> tuple[float, float]:
    """The y range (low, 1.05) that holds every normalised spectrum of every file: shared by all frames."""
    low = 1.0
    for rep in reps:
        for block in rep["blocks"]:
            kernels, acts = block_spectra(rep, block)
            for v in [*kernels, acts]:
                if v.size:
                    low = min(low, float(v.min()))
    return 10 ** np.floor(np.log10(low)), 1.05


def _annotate(ax, matrix: np.ndarray, max_cells: int = 150) -> None:
    """Write each cell's value on small heat maps (white on dark cells, black on light ones)."""
    if matrix.size > max_cells:
        return
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.6 else "black")


def _grid(fig, n: int, ncols: int):
    rows = int(np.ceil(n / ncols))
    return [fig.add_subplot(rows, ncols, i + 1) for i in range(n)]


def _blocks(reps: Mapping[str, Mapping]) -> list[str]:
    """Block names in order of first appearance across variants."""
    return list(dict.fromkeys(b for rep in reps.values() for b in rep["blocks"]))


def _check(reps: Mapping, what: str, out_png) -> None:
    if not reps:
        raise PipelineError(f"{what} {out_png}: nothing to plot (no representation files)")


def plot_effective_rank(
    series: Mapping[str, Mapping[int, Mapping]], out_png: str | os.PathLike, *, title: str | None = None
) -> dict:
    """``series[variant][epoch]`` = a representations file; one column per block, rows weights / activations."""
    _check(series, "plot_effective_rank", out_png)
    blocks = _blocks({v: reps[min(reps)] for v, reps in series.items() if reps})
    colors = variant_colors(list(series))
    values: dict[tuple[str, str, str], list[float]] = {}
    with st.style():
        fig = st.new_figure((PANEL[0] * len(blocks) + 0.6, PANEL[1] * 2 + 0.8))
        fig.suptitle(title or "Effective rank per block over epochs")
        axes = np.array(fig.subplots(2, len(blocks), squeeze=False))
        for row, (kind, fn) in enumerate(
            (("weights", kernel_effective_rank), ("activations", activation_effective_rank))
        ):
            for col, block in enumerate(blocks):
                ax = axes[row, col]
                for variant, reps in series.items():
                    epochs = [e for e in sorted(reps) if block in reps[e]["blocks"]]
                    ys = [fn(reps[e], block) for e in epochs]
                    values[(kind, variant, block)] = ys
                    ax.plot(epochs, ys, marker="o", markersize=3, color=colors[variant], label=variant)
                ax.set_title(f"{block} · {kind}")
                ax.set_xlabel("epoch")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                if col == 0:
                    ax.set_ylabel(
                        "effective rank (kernels, mean)"
                        if kind == "weights"
                        else "effective rank (output covariance)"
                    )
                ax.grid(alpha=0.3)
        axes[0, -1].legend(title="variant", loc="best")
        path = st.save_figure(fig, out_png)
    return {"path": Path(path), "blocks": blocks, "values": values}


def plot_spectra(
    reps: Mapping[str, Mapping],
    out_png: str | os.PathLike,
    *,
    ylim: tuple[float, float] | None = None,
    title: str | None = None,
    ncols: int = 4,
) -> dict:
    """``reps[variant]`` = that variant's file at one epoch; one panel per block, log-scale normalised spectra.

    Pass the same ``ylim`` (``spectra_limits`` over all epochs) to every epoch's frame.
    """
    _check(reps, "plot_spectra", out_png)
    ylim = ylim or spectra_limits(list(reps.values()))
    blocks = _blocks(reps)
    colors = variant_colors(list(reps))
    ncols = min(ncols, len(blocks))
    with st.style():
        rows = int(np.ceil(len(blocks) / ncols))
        fig = st.new_figure((PANEL[0] * ncols + 0.6, PANEL[1] * rows + 1.0))
        fig.suptitle(title or "Normalised spectra per block")
        axes = _grid(fig, len(blocks), ncols)
        for ax, block in zip(axes, blocks, strict=True):
            for variant, rep in reps.items():
                if block not in rep["blocks"]:
                    continue
                kernels, acts = block_spectra(rep, block)
                for v in kernels:
                    ax.plot(np.arange(1, v.size + 1), v, color=colors[variant], **KERNEL_STYLE)
                ax.plot(
                    np.arange(1, acts.size + 1),
                    acts,
                    color=colors[variant],
                    label=variant,
                    **ACTIVATION_STYLE,
                )
            ax.set_yscale("log")
            ax.set_ylim(*ylim)
            ax.set_title(block)
            ax.set_xlabel("index (largest first)")
            ax.grid(alpha=0.3, which="major")
        for i, ax in enumerate(axes):
            if i % ncols == 0:
                ax.set_ylabel("σ/σ₁ (dashed: kernels)\nλ/λ₁ (solid: outputs)")
        handles = [Line2D([], [], color=colors[v], label=v, **ACTIVATION_STYLE) for v in reps]
        handles += [
            Line2D([], [], color="grey", label="conv kernel σ/σ₁", **KERNEL_STYLE),
            Line2D([], [], color="grey", label="output covariance λ/λ₁", **ACTIVATION_STYLE),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
        path = st.save_figure(fig, out_png)
    return {
        "path": Path(path),
        "ylim": tuple(ylim),
        "blocks": blocks,
        "axes_ylim": [a.get_ylim() for a in axes],
    }


def cka_final_matrix(reps: Mapping[int, Mapping]) -> tuple[list[str], list[int], np.ndarray]:
    """(blocks, epochs, M[block, epoch]): CKA of each epoch's block with the same block of the final epoch."""
    epochs = sorted(reps)
    blocks = list(reps[epochs[-1]]["blocks"])
    matrix = np.array(
        [
            [float(np.diagonal(np.asarray(reps[e]["cka_final"]))[i]) for e in epochs]
            for i in range(len(blocks))
        ]
    )
    return blocks, epochs, matrix


def plot_cka_final(
    series: Mapping[str, Mapping[int, Mapping]], out_png: str | os.PathLike, *, title: str | None = None
) -> dict:
    """Per variant a block × epoch heat map of CKA(block at epoch, same block at the final epoch), range [0, 1]."""
    _check(series, "plot_cka_final", out_png)
    norm = mcolors.Normalize(0.0, 1.0)
    matrices = {}
    with st.style():
        fig = st.new_figure((4.2 * len(series) + 1.0, 3.8))
        fig.suptitle(title or "Linear CKA of each epoch's block with the final epoch's")
        axes = np.atleast_1d(fig.subplots(1, len(series), squeeze=False)[0])
        image = None
        for ax, (variant, reps) in zip(axes, series.items(), strict=True):
            blocks, epochs, matrix = cka_final_matrix(reps)
            matrices[variant] = matrix
            image = ax.imshow(matrix, aspect="auto", cmap=CKA_CMAP, norm=norm, origin="upper")
            _annotate(ax, matrix)
            ax.set_xticks(range(len(epochs)), [str(e) for e in epochs])
            ax.set_yticks(range(len(blocks)), blocks)
            ax.set_xlabel("epoch")
            ax.set_ylabel("block (input → output)")
            ax.set_title(variant)
        fig.colorbar(image, ax=list(axes), label="CKA with final epoch", shrink=0.9)
        path = st.save_figure(fig, out_png)
    return {"path": Path(path), "matrices": matrices, "norm": norm}


def plot_cka_variants(
    similarity: Mapping[int, Mapping], out_png: str | os.PathLike, *, title: str | None = None
) -> dict:
    """``similarity[epoch]`` = ``read_variant_similarity``; one row per epoch, one column per variant pair."""
    _check(similarity, "plot_cka_variants", out_png)
    norm = mcolors.Normalize(0.0, 1.0)
    epochs = sorted(similarity)
    pairs = list(dict.fromkeys(p for e in epochs for p in similarity[e]["cka"]))
    if not pairs:
        raise PipelineError(f"plot_cka_variants {out_png}: the similarity files hold no variant pairs")
    with st.style():
        fig = st.new_figure((3.6 * len(pairs) + 1.0, 3.4 * len(epochs) + 0.6))
        fig.suptitle(title or "Linear CKA between variants, block × block")
        axes = np.array(fig.subplots(len(epochs), len(pairs), squeeze=False))
        image = None
        for r, epoch in enumerate(epochs):
            for c, pair in enumerate(pairs):
                ax = axes[r, c]
                matrix, xb, yb = similarity[epoch]["cka"][pair]
                image = ax.imshow(np.asarray(matrix), cmap=CKA_CMAP, norm=norm, origin="upper", aspect="auto")
                _annotate(ax, np.asarray(matrix), max_cells=64)
                ax.set_yticks(range(len(xb)), list(xb))
                ax.set_xticks(range(len(yb)), list(yb), rotation=90)
                ax.set_ylabel(f"{pair[0]} block")
                ax.set_xlabel(f"{pair[1]} block")
                ax.set_title(f"epoch {epoch}: {pair[0]} vs {pair[1]}")
        fig.colorbar(image, ax=list(axes.ravel()), label="linear CKA", shrink=0.9)
        path = st.save_figure(fig, out_png)
    return {"path": Path(path), "pairs": pairs, "epochs": epochs, "norm": norm}
