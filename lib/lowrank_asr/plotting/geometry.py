"""Training-geometry figures: the optimiser's path on its PCA plane, 1-D interpolations, sharpness per epoch.

Inputs are the dicts of ``lowrank_asr.geometry.io.read_geometry``. Several variants side by side share one loss
colour scale, so a colour means the same loss in every panel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import ticker
from matplotlib.cm import ScalarMappable

from lowrank_asr.errors import PipelineError
from lowrank_asr.plotting import style as st
from lowrank_asr.plotting.landscape import N_FILL_LEVELS, N_LINE_LEVELS, _fmt_loss, _levels, landscape_limits

PANEL = 4.6  # inches per trajectory panel
WER_COLOR = "#d95f02"
LOSS_COLOR = "#1b9e77"


def _trajectory_panel(fig, ax, data: Mapping, zlim: tuple[float, float]) -> None:
    xs, ys = np.asarray(data["xcoordinates"]), np.asarray(data["ycoordinates"])
    loss = np.asarray(data["loss"], dtype=np.float64)
    proj = np.asarray(data["projections"], dtype=np.float64)
    epochs = np.asarray(data["epochs"]).astype(int)
    ev = np.asarray(data["explained_variance"], dtype=np.float64)
    if loss.shape != (len(ys), len(xs)) or proj.shape != (len(epochs), 2):
        raise PipelineError(
            f"trajectory of {data['attrs'].get('variant')}: loss {loss.shape} or projections "
            f"{proj.shape} do not fit the grid {len(ys)} x {len(xs)} and {len(epochs)} epochs"
        )
    fill, norm, log_scale = _levels(*zlim, N_FILL_LEVELS)
    X, Y = np.meshgrid(xs, ys)
    masked = np.ma.masked_invalid(loss)
    ax.set_facecolor("#d9d9d9")
    if np.isfinite(loss).sum() >= 3:
        ax.contourf(X, Y, masked, levels=fill, norm=norm, cmap=st.LANDSCAPE_CMAP, extend="both")
        lines = ax.contour(
            X,
            Y,
            masked,
            levels=_levels(*zlim, N_LINE_LEVELS)[0],
            norm=norm,
            colors="white",
            linewidths=0.7,
            alpha=0.85,
        )
        ax.clabel(lines, fmt=_fmt_loss, fontsize=7, inline=True)
    ax.plot(proj[:, 0], proj[:, 1], "-o", color="#e41a1c", markersize=4, linewidth=1.4, zorder=4)
    for e, (px, py) in zip(epochs, proj, strict=True):
        ax.annotate(str(e), (px, py), textcoords="offset points", xytext=(4, 4), fontsize=7, color="black")
    ax.plot([0], [0], linestyle="none", **st.CENTRE_MARKER)
    ax.set_xlabel(f"1st PC: {100 * ev[0]:.1f} %")
    ax.set_ylabel(f"2nd PC: {100 * ev[1]:.1f} %")
    attrs = data["attrs"]
    ax.set_title(f"{attrs.get('variant', 'model')} · epochs {epochs[0]}–{epochs[-1]}")


def plot_trajectories(datas: Sequence[Mapping], out_png: str | os.PathLike) -> Path:
    """Loss contours on each variant's trajectory plane with every epoch's projection, side by side."""
    if not datas:
        raise PipelineError(f"plot_trajectories {out_png}: no trajectory files given")
    zlim = landscape_limits([d["loss"] for d in datas])
    with st.style():
        fig = st.new_figure((PANEL * len(datas) + 1.2, PANEL))
        axes = fig.subplots(1, len(datas), squeeze=False)[0]
        for ax, data in zip(axes, datas, strict=True):
            _trajectory_panel(fig, ax, data, zlim)
        norm = _levels(*zlim, N_FILL_LEVELS)[1]
        cbar = fig.colorbar(
            ScalarMappable(norm=norm, cmap=st.LANDSCAPE_CMAP), ax=list(axes), shrink=0.9, extend="both"
        )
        cbar.set_label("loss (mean NLL per utterance)")
        fig.suptitle("Optimiser path on the plane of its first two principal components (star: last epoch)")
        return st.save_figure(fig, out_png)


def _twin(ax, x, loss, wer, xlabel: str) -> None:
    ax.plot(x, loss, "-o", color=LOSS_COLOR, markersize=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss (mean NLL per utterance)", color=LOSS_COLOR)
    ax.tick_params(axis="y", colors=LOSS_COLOR)
    if np.all(np.asarray(loss) > 0):
        ax.set_yscale("log")
    if wer is not None:
        ax2 = ax.twinx()
        ax2.spines["right"].set_visible(True)
        ax2.plot(x, 100 * np.asarray(wer), "--s", color=WER_COLOR, markersize=3)
        ax2.set_ylabel("greedy WER (%)", color=WER_COLOR)
        ax2.tick_params(axis="y", colors=WER_COLOR)


def plot_interpolation(data: Mapping, out_png: str | os.PathLike) -> Path:
    """Left: θ(t) = (1 − t)·θ_init + t·θ_final; right: through the consecutive epochs. Loss and WER on twin axes."""
    variant = data["attrs"].get("variant", "model")
    with st.style():
        fig = st.new_figure(st.TRAINING_FIGSIZE)
        left, right = fig.subplots(1, 2)
        _twin(left, data["t"], data["loss"], data.get("wer"), "t  (0: initialisation, 1: last epoch)")
        for t in (0.0, 1.0):
            left.axvline(t, color="grey", linewidth=0.8, linestyle=":")
        left.set_title("initialisation → last epoch (extrapolated outside [0, 1])")
        _twin(right, data["path_position"], data["path_loss"], data.get("path_wer"), "epoch")
        right.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        right.set_title("straight segments between consecutive epochs")
        fig.suptitle(f"{variant}: 1-D interpolations (loss solid, WER dashed)")
        return st.save_figure(fig, out_png)


def plot_sharpness(datas: Sequence[Mapping], out_png: str | os.PathLike) -> Path:
    """Top Hessian eigenvalue and Hessian trace against epoch, one line per variant."""
    if not datas:
        raise PipelineError(f"plot_sharpness {out_png}: no sharpness files given")
    with st.style():
        fig = st.new_figure(st.TRAINING_FIGSIZE)
        top, trace = fig.subplots(1, 2)
        for data in datas:
            variant = data["attrs"].get("variant", "model")
            epochs = np.asarray(data["epochs"])
            # the residual bounds the distance to an eigenvalue: drawn as an error bar (absent in older files)
            line = top.errorbar(
                epochs,
                data["eigenvalue"],
                yerr=data.get("residual"),
                fmt="-o",
                markersize=4,
                capsize=3,
                label=variant,
            ).lines[0]
            unconverged = ~np.asarray(data["converged"], dtype=bool)
            if unconverged.any():
                top.plot(
                    epochs[unconverged],
                    np.asarray(data["eigenvalue"])[unconverged],
                    "x",
                    color="black",
                    markersize=8,
                    zorder=5,
                )
            trace.errorbar(
                epochs,
                data["trace"],
                yerr=data["trace_stderr"],
                fmt="-o",
                markersize=4,
                capsize=3,
                color=line.get_color(),
                label=variant,
            )
        for ax in (top, trace):
            ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        top.set_xlabel("epoch")
        top.set_ylabel("λ_max of the Hessian (largest eigenvalue)")
        tol = datas[0]["attrs"].get("tolerance")
        top.set_title(f"largest eigenvalue (Lanczos ± residual, tol {tol}; × = not converged)")
        # variants (RNN-T and CTC losses) can differ by orders of magnitude: log axes when every value allows
        if all(np.all(np.asarray(d["eigenvalue"]) > 0) for d in datas):
            top.set_yscale("log")
        if all(np.all(np.asarray(d["trace"]) > 0) for d in datas):
            trace.set_yscale("log")
        trace.set_xlabel("epoch")
        trace.set_ylabel("tr H (Hutchinson, ± standard error)")
        trace.set_title("Hessian trace")
        top.legend()
        fig.suptitle("Sharpness of the subset loss per epoch")
        return st.save_figure(fig, out_png)
