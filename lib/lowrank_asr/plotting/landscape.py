"""Loss-landscape figures: a filled contour map with labelled log-spaced lines, and a 3-D surface.

For a video over epochs, pass the same ``zlim`` (from :func:`landscape_limits` over all epochs of a variant) to
every frame so colours and heights mean the same loss in each frame. Grid points whose loss is not finite (+inf:
the activations overflow even in float64, far from the minimum; NaN only in files written before the loss was
guarded) are left out of the colours and marked with a black cross and a legend entry; points whose float32
loss overflowed and was recomputed in float64 (``loss_status`` 1) are real values, marked with a small circle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colors, ticker
from matplotlib.cm import ScalarMappable

from lowrank_asr.errors import PipelineError
from lowrank_asr.plotting import style as st

N_FILL_LEVELS = 24
N_LINE_LEVELS = 8


def landscape_limits(losses: Sequence[np.ndarray], *, clip_hi: float | None = None) -> tuple[float, float]:
    """A shared ``(lo, hi)`` z range for several loss grids: min and max over their finite values.

    ``clip_hi`` caps ``hi`` (losses far from the minimum can be orders of magnitude larger than the interesting
    part; the log scale usually copes). Falls back to ``(0, 1)`` when nothing is finite; widens a flat range.
    """
    finite = [np.asarray(a, dtype=np.float64)[np.isfinite(a)] for a in losses]
    finite = np.concatenate([f.ravel() for f in finite]) if finite else np.zeros(0)
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if clip_hi is not None:
        hi = min(hi, float(clip_hi))
    if not hi > lo:  # a flat grid (or clip_hi below the minimum): widen around the value
        if lo > 0:
            lo, hi = lo / 1.1, max(hi, lo) * 1.1
        else:
            pad = abs(lo) * 0.05 or 0.05
            lo, hi = lo - pad, max(hi, lo) + pad
    return (lo, hi)


def _levels(lo: float, hi: float, n: int) -> tuple[np.ndarray, colors.Normalize, bool]:
    if lo > 0:
        return np.geomspace(lo, hi, n), colors.LogNorm(vmin=lo, vmax=hi), True
    # Losses <= 0 (e.g. a log-likelihood score) cannot use log levels.
    return np.linspace(lo, hi, n), colors.Normalize(vmin=lo, vmax=hi), False


def _fmt_loss(v: float) -> str:
    return f"{v:.3g}"


def _centre_value(grid: np.ndarray | None, xs: np.ndarray, ys: np.ndarray) -> float | None:
    if grid is None:
        return None
    v = grid[int(np.argmin(np.abs(ys))), int(np.argmin(np.abs(xs)))]
    return float(v) if np.isfinite(v) else None


def plot_landscape(
    data: Mapping,
    out_png: str | os.PathLike,
    *,
    zlim: tuple[float, float] | None = None,
    title: str | None = None,
) -> dict:
    """Draw the landscape ``data`` (as returned by ``lowrank_asr.landscape.read_landscape``) to ``out_png``.

    ``zlim``: shared ``(lo, hi)`` loss range (colour and height); default: this grid's finite range.
    ``title``: default "variant · epoch N" from the file attributes, with eval loss and WER underneath.
    Returns ``{"path", "zlim", "levels", "norm", "log_scale", "n_masked", "n_recomputed"}``.
    """
    xs = np.asarray(data["xcoordinates"], dtype=np.float64)
    ys = np.asarray(data["ycoordinates"], dtype=np.float64)
    loss = np.asarray(data["loss"], dtype=np.float64)
    if loss.shape != (len(ys), len(xs)) or len(xs) < 2 or len(ys) < 2:
        raise PipelineError(
            f"plot_landscape {out_png}: loss of shape {loss.shape} does not fit a "
            f"{len(ys)} x {len(xs)} grid of at least 2 x 2 points"
        )
    attrs = dict(data.get("attrs") or {})
    zlabel = str(attrs.get("loss_label", "loss (mean NLL per utterance)"))
    wer = data.get("wer")
    lo, hi = zlim if zlim is not None else landscape_limits([loss])
    if not hi > lo:
        raise PipelineError(f"plot_landscape {out_png}: zlim {zlim} must have lo < hi")
    fill_levels, norm, log_scale = _levels(lo, hi, N_FILL_LEVELS)
    line_levels = _levels(lo, hi, N_LINE_LEVELS)[0]
    invalid = ~np.isfinite(loss)
    masked = np.ma.masked_invalid(loss)
    status = data.get("loss_status")
    recomputed = np.zeros_like(invalid) if status is None else (np.asarray(status) == 1) & ~invalid
    X, Y = np.meshgrid(xs, ys)

    if title is None:
        title = f"{attrs.get('variant', 'model')} · epoch {attrs.get('epoch', '?')}"
    facts = []
    if attrs.get("eval_loss") is not None:
        facts.append(f"eval loss {float(attrs['eval_loss']):.3f}")
    eval_wer = attrs.get("eval_wer")
    if eval_wer is None:
        eval_wer = _centre_value(None if wer is None else np.asarray(wer, dtype=np.float64), xs, ys)
    if eval_wer is not None:
        facts.append(f"WER {100 * float(eval_wer):.1f} %")
    if invalid.any():
        facts.append(f"{int(invalid.sum())} points with loss +inf (×)")
    if recomputed.any():
        facts.append(f"{int(recomputed.sum())} recomputed in float64 (○)")

    with st.style():
        fig = st.new_figure(st.LANDSCAPE_FIGSIZE)
        fig.suptitle(title + ("\n" + " · ".join(facts) if facts else ""))
        gs = fig.add_gridspec(1, 2, width_ratios=[1.0, 1.15])

        ax = fig.add_subplot(gs[0, 0])
        ax.set_facecolor("#d9d9d9")  # masked points show as grey
        if np.isfinite(loss).sum() >= 3:
            ax.contourf(X, Y, masked, levels=fill_levels, norm=norm, cmap=st.LANDSCAPE_CMAP, extend="both")
            lines = ax.contour(
                X, Y, masked, levels=line_levels, norm=norm, colors="white", linewidths=0.7, alpha=0.85
            )
            ax.clabel(lines, fmt=_fmt_loss, fontsize=7, inline=True)
        if invalid.any():
            # Grey background + a cross per point that has no finite loss; the title says how many.
            ax.scatter(
                X[invalid],
                Y[invalid],
                marker="x",
                color="black",
                s=22,
                linewidths=1.0,
                clip_on=False,
                zorder=6,
                label="loss +inf (overflows even in float64)",
            )
        if recomputed.any():
            ax.scatter(
                X[recomputed],
                Y[recomputed],
                marker="o",
                facecolors="none",
                edgecolors="black",
                s=14,
                linewidths=0.8,
                clip_on=False,
                zorder=6,
                label="float32 overflowed: float64 value",
            )
        if invalid.any() or recomputed.any():
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, frameon=False)
        ax.plot([0], [0], linestyle="none", **st.CENTRE_MARKER)
        ax.set_xlabel("α (direction 1, filter-normalised units)")
        ax.set_ylabel("β (direction 2, filter-normalised units)")
        ax.set_title("loss contours" + (" (log-spaced levels)" if log_scale else ""))
        ax.set_aspect("equal", adjustable="box")
        cbar = fig.colorbar(
            ScalarMappable(norm=norm, cmap=st.LANDSCAPE_CMAP), ax=ax, shrink=0.9, pad=0.02, extend="both"
        )
        if log_scale:
            cbar.ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            cbar.ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _fmt_loss(v)))
            cbar.ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        cbar.set_label(zlabel)

        ax3 = fig.add_subplot(gs[0, 1], projection="3d")
        clipped = np.clip(loss, lo, hi)
        clipped[invalid] = np.nan
        z = np.log10(clipped) if log_scale else clipped
        zlo, zhi = (np.log10(lo), np.log10(hi)) if log_scale else (lo, hi)
        ax3.plot_surface(
            X,
            Y,
            np.ma.masked_invalid(z),
            cmap=st.LANDSCAPE_CMAP,
            vmin=zlo,
            vmax=zhi,
            rstride=1,
            cstride=1,
            linewidth=0.2,
            edgecolor=(0, 0, 0, 0.25),
            antialiased=True,
        )
        ax3.set_zlim(zlo, zhi)
        if log_scale:
            ticks = [t for t in ticker.LogLocator(subs=(1.0, 2.0, 5.0)).tick_values(lo, hi) if lo <= t <= hi]
            if len(ticks) < 2:
                ticks = list(np.geomspace(lo, hi, 4))
            ax3.set_zticks(np.log10(ticks))
            ax3.set_zticklabels([_fmt_loss(t) for t in ticks])
        for axis in (ax3.xaxis, ax3.yaxis):
            axis.set_major_locator(ticker.MaxNLocator(5))
        ax3.set_xlabel("α")
        ax3.set_ylabel("β")
        ax3.set_zlabel("loss" + (" (log scale)" if log_scale else ""))
        ax3.set_title("loss surface (clipped to the shared range)")
        ax3.view_init(elev=32, azim=-58)
        path = st.save_figure(fig, out_png)
    return {
        "path": Path(path),
        "zlim": (lo, hi),
        "levels": fill_levels,
        "norm": norm,
        "log_scale": log_scale,
        "n_masked": int(invalid.sum()),
        "n_recomputed": int(recomputed.sum()),
    }
