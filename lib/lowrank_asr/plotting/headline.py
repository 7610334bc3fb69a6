"""The study's headline figure: what low rank buys. Greedy WER (with its interval) of every trained variant and of
every post-hoc truncation of it, against trainable parameters and against measured inference cost (RTF).

Inputs are the WER table (``results/wer_table.csv``: one row per variant × split, the mean over training seeds
with its bootstrap interval, ``params``, ``rtf``) and the compression table (``results/compression.csv``: one row
per run × rank fraction × split, greedy WER without an interval). Truncation keeps every weight's dense shape
(the rank-r product is stored as a full matrix), so a truncated model costs what its full model costs to run:
its points sit at the full model's measured RTF.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from lowrank_asr.errors import PipelineError
from lowrank_asr.plotting import style as st
from lowrank_asr.plotting.style import variant_colors

HEADLINE_SPLITS: tuple[str, ...] = ("test-other", "real-test")
_FLOATS = ("greedy_wer", "greedy_wer_low", "greedy_wer_high", "rtf", "params", "fraction")


def read_rows(path: str | os.PathLike) -> list[dict]:
    """A results CSV's rows, the columns this figure reads as numbers (empty cells stay strings)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: float(v) if k in _FLOATS and v != "" else v for k, v in row.items()} for row in rows]


def headline_points(
    table: Sequence[Mapping],
    compression: Sequence[Mapping],
    splits: Sequence[str],
    runs: Mapping[str, str] | None = None,
) -> dict[tuple[str, str], dict]:
    """(variant, split) → {params, rtf, wer, low, high, truncated: [(fraction, params, wer), ...]}.

    ``runs`` maps the compression table's run names (``variant/seed_N``) to variants; truncations below the full
    rank (fraction < 1) are kept, the fraction-1 row being the trained model the WER table already holds."""
    points: dict[tuple[str, str], dict] = {}
    for row in table:
        if row["split"] in splits:
            points[row["variant"], row["split"]] = {
                "params": row["params"],
                "rtf": row["rtf"],
                "wer": row["greedy_wer"],
                "low": row["greedy_wer_low"],
                "high": row["greedy_wer_high"],
                "truncated": [],
            }
    for row in compression:
        key = ((runs or {}).get(row["variant"], row["variant"]), row["split"])
        if key in points and row["fraction"] < 1.0:
            points[key]["truncated"].append((row["fraction"], row["params"], row["greedy_wer"]))
    for p in points.values():
        p["truncated"].sort(reverse=True)
    return points


def plot_headline(
    table: Sequence[Mapping],
    compression: Sequence[Mapping],
    out_png: str | os.PathLike,
    *,
    splits: Sequence[str] = HEADLINE_SPLITS,
    runs: Mapping[str, str] | None = None,
) -> dict:
    """One row of two panels per split of ``splits`` in the table (every split of the table when it has none of
    them): greedy WER against parameters (log) and against RTF.

    Trained variants: filled markers with their interval; truncations: open markers joined to their variant's
    full model, labelled by rank fraction."""
    in_table = list(dict.fromkeys(r["split"] for r in table))
    if not in_table:
        raise PipelineError(
            f"plot_headline {out_png}: the WER table has no rows; run the wer_table rule first"
        )
    # a config that evaluates none of `splits` (e.g. the rehearsal's test-clean alone) still gets its figure
    present = [s for s in splits if s in in_table] or in_table
    points = headline_points(table, compression, present, runs)
    variants = list(dict.fromkeys(v for v, _ in points))
    colors = variant_colors(variants)
    with st.style():
        fig = st.new_figure((10.0, 3.6 * len(present) + 0.6))
        fig.suptitle("What low rank buys: greedy WER against size and inference cost")
        axes = fig.subplots(len(present), 2, squeeze=False)
        for row_axes, split in zip(axes, present, strict=True):
            for ax, x_key, x_label in (
                (row_axes[0], "params", "parameters (log scale)"),
                (row_axes[1], "rtf", "real-time factor, greedy (traced code)"),
            ):
                for k, variant in enumerate(variants):
                    p = points.get((variant, split))
                    if p is None:
                        continue
                    color = colors[variant]
                    err = [[p["wer"] - p["low"]], [p["high"] - p["wer"]]]
                    ax.errorbar(
                        [p[x_key]], [p["wer"]], yerr=err, fmt="o", color=color, capsize=3, label=variant
                    )
                    if p["truncated"]:
                        xs = [p[x_key]] + [t[1] if x_key == "params" else p["rtf"] for t in p["truncated"]]
                        ys = [p["wer"]] + [t[2] for t in p["truncated"]]
                        ax.plot(xs, ys, linestyle=":", color=color)
                        ax.plot(xs[1:], ys[1:], "o", mfc="white", color=color)
                        for (fraction, *_), x, y in zip(p["truncated"], xs[1:], ys[1:], strict=True):
                            ax.annotate(
                                f"{fraction:g}",
                                (x, y),
                                textcoords="offset points",
                                xytext=(4, 3 + 8 * k),
                                fontsize=7,
                                color=color,
                            )
                if x_key == "params":
                    ax.set_xscale("log")
                ax.set_xlabel(x_label)
                ax.set_ylabel(f"greedy WER, {split}")
                ax.grid(alpha=0.3, which="both")
        axes[0][1].legend(title="variant (open: truncated to rank fraction)", loc="best", fontsize=8)
        path = st.save_figure(fig, out_png)
    return {"path": Path(path), "splits": present, "points": points}
