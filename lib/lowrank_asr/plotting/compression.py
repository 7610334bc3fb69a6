"""Figure of the post-hoc compression sweep: greedy WER against parameter count, one curve per variant, one panel
per split, from the rows of the compression table (``compression.tables.read_compression_csv``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lowrank_asr.errors import PipelineError
from lowrank_asr.plotting import style as st
from lowrank_asr.plotting.style import variant_colors


def plot_compression(
    rows: Sequence[Mapping], out_png: str | os.PathLike, *, title: str | None = None
) -> dict:
    """Greedy WER against parameter count (log x), one curve per variant, one panel per split.

    Each point is a rank fraction (annotated); the full-rank point is the trained model itself.
    """
    if not rows:
        raise PipelineError(
            f"plot_compression {out_png}: no compression rows; run the compression rule first"
        )
    splits = list(dict.fromkeys(r["split"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    colors = variant_colors(variants)
    curves = {}
    with st.style():
        fig = st.new_figure((4.6 * len(splits) + 0.4, 4.0))
        fig.suptitle(title or "Post-hoc low-rank truncation: greedy WER against parameter count")
        axes = np.atleast_1d(fig.subplots(1, len(splits), squeeze=False, sharey=True)[0])
        for ax, split in zip(axes, splits, strict=True):
            for k, variant in enumerate(variants):
                pts = sorted(
                    (float(r["params"]), float(r["greedy_wer"]), float(r["fraction"]))
                    for r in rows
                    if r["split"] == split and r["variant"] == variant
                )
                if not pts:
                    continue
                xs, ys, fr = zip(*pts, strict=True)
                curves[(variant, split)] = (list(xs), list(ys))
                ax.plot(xs, ys, marker="o", color=colors[variant], label=variant)
                for x, y, f in pts:
                    # labels offset per variant: curves of equal WER do not print over each other
                    ax.annotate(
                        f"{f:g}",
                        (x, y),
                        textcoords="offset points",
                        xytext=(3, 4 + 9 * k),
                        fontsize=7,
                        color=colors[variant],
                    )
            ax.set_xscale("log")
            ax.set_title(split)
            ax.set_xlabel("parameters (log scale)")
            ax.grid(alpha=0.3, which="both")
        axes[0].set_ylabel("greedy WER")
        axes[-1].legend(title="variant (labels: rank fraction)", loc="best")
        path = st.save_figure(fig, out_png)
    return {"path": Path(path), "splits": splits, "curves": curves}
