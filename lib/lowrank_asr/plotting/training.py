"""Training curves of all variants: train/dev loss and dev WER against epoch."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import ticker

from lowrank_asr.errors import PipelineError
from lowrank_asr.plotting import style as st

REQUIRED_COLUMNS = ("epoch", "train_loss", "dev_loss", "dev_wer")


def read_history(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``history.csv`` (``epoch,train_loss,dev_loss,dev_wer,seconds[,lr,...]``) as column arrays (floats; empty
    cells -> NaN, e.g. a dev WER not computed). A cell that is not a number raises PipelineError naming the file,
    line and column: a NaN there would silently drop a point from the plot."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as e:
        raise PipelineError(f"cannot read training history {path}: {e}; rerun the train rule") from e
    columns = rows[0].keys() if rows else []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise PipelineError(
            f"training history {path} lacks columns {missing} (has {list(columns)}); "
            f"expected {','.join(REQUIRED_COLUMNS)},seconds"
        )

    def num(v: str | None, line: int, column: str) -> float:
        if v in (None, ""):
            return math.nan
        try:
            return float(v)
        except ValueError:
            raise PipelineError(
                f"training history {path} line {line}, column {column!r}: {v!r} is not a number; "
                "the file is damaged: rerun the train rule"
            ) from None

    return {c: np.array([num(r.get(c), n, c) for n, r in enumerate(rows, 2)]) for c in columns}


def seed_spread(
    histories: Sequence[Mapping[str, np.ndarray]], column: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(epochs, mean, low, high)`` of one column over several seeds' histories, on the epochs they all hold."""
    epochs = sorted(set.intersection(*(set(h["epoch"][np.isfinite(h["epoch"])].tolist()) for h in histories)))
    values = np.array([[h[column][h["epoch"] == e][0] for e in epochs] for h in histories])
    return np.array(epochs), values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def plot_training_curves(
    history_csvs: Mapping[str, str | os.PathLike | Sequence[str | os.PathLike]],
    out_png: str | os.PathLike,
    *,
    title: str = "Training curves",
) -> Path:
    """Left: train (solid) and dev (dashed) loss per variant (log scale when all positive); right: dev WER in %.
    One colour per variant, the same in both panels. A variant given several histories (one per training seed) is
    drawn as their mean with the seeds' range (min to max) as a band."""
    if not history_csvs:
        raise PipelineError(f"plot_training_curves {out_png}: no history files given")
    histories = {
        name: [read_history(p) for p in ([paths] if isinstance(paths, str | os.PathLike) else paths)]
        for name, paths in history_csvs.items()
    }
    empty = [name for name, runs in histories.items() if not runs]
    if empty:
        raise PipelineError(f"plot_training_curves {out_png}: no history files for {empty}")
    with st.style():
        fig = st.new_figure(st.TRAINING_FIGSIZE)
        fig.suptitle(title)
        ax_loss, ax_wer = fig.subplots(1, 2)
        palette = [f"C{i}" for i in range(10)]
        all_loss = []
        for i, (name, runs) in enumerate(histories.items()):
            c = palette[i % len(palette)]
            label = name if len(runs) == 1 else f"{name} ({len(runs)} seeds)"
            for ax, column, scale, style, suffix in (
                (ax_loss, "train_loss", 1, "-", " train"),
                (ax_loss, "dev_loss", 1, "--", " dev"),
                (ax_wer, "dev_wer", 100, "-", ""),
            ):
                epochs, mean, low, high = seed_spread(runs, column)
                ax.plot(
                    epochs,
                    scale * mean,
                    color=c,
                    linestyle=style,
                    marker="." if ax is ax_loss else "o",
                    markersize=3 if ax is ax_wer else None,
                    label=label + suffix,
                )
                if len(runs) > 1:
                    ax.fill_between(epochs, scale * low, scale * high, color=c, alpha=0.15, linewidth=0)
                if ax is ax_loss:
                    all_loss += [low, high]
        finite = np.concatenate(all_loss)
        finite = finite[np.isfinite(finite)]
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
            ax_loss.set_yscale("log")  # losses fall by orders of magnitude early on
            ax_loss.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            ax_loss.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax_loss.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax_loss.set_xlabel("epoch")
        ax_loss.set_ylabel("loss (mean NLL per utterance)")
        ax_loss.set_title("loss: train — solid, dev - - dashed")
        ax_loss.legend(ncol=1 if len(histories) < 4 else 2, fontsize=8)
        ax_wer.set_xlabel("epoch")
        ax_wer.set_ylabel("dev WER (%)")
        ax_wer.set_title("dev word error rate (greedy)")
        ax_wer.legend(fontsize=8)
        for ax in (ax_loss, ax_wer):
            ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
        return st.save_figure(fig, out_png)
