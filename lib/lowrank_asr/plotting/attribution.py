"""Integrated-gradients figures: per utterance the input, the attribution over it, and the per-frame mass.

Log-mel input ``[T, F]``: spectrogram (time × mel bin), attribution heat map on the same axes (diverging map
centred at 0 with symmetric limits), and the signed attribution summed over mel bins per 10 ms frame.
Waveform input ``[S]``: the waveform, the per-sample attribution (red up / blue down), and the per-frame sum.
Red means the feature raised the attributed score (e.g. the log-likelihood of the reference), blue lowered it.

Frames of a video must use one scale: :func:`shared_scales` gives one per utterance over all the figures
(epochs, variants) that show it, and :func:`plot_attribution` draws with it and says so on the colour bar.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colors

from lowrank_asr.attribution.result import frame_attribution
from lowrank_asr.errors import PipelineError
from lowrank_asr.plotting import style as st

ROW_HEIGHTS = (2.2, 2.2, 1.1)  # inches: input, attribution, per-frame mass
TEXT_HEIGHT = 0.55  # inches per utterance for the transcript lines


def symmetric_limit(attributions: np.ndarray, quantile: float = 0.995) -> float:
    """Half-range of the diverging colour scale: a high quantile of |attr| (a few extreme cells saturate
    instead of washing out the rest); never 0."""
    a = np.abs(np.asarray(attributions, dtype=np.float64))
    a = a[np.isfinite(a)]
    lim = float(np.quantile(a, quantile)) if a.size else 0.0
    if lim <= 0:
        lim = float(a.max()) if a.size and a.max() > 0 else 1.0
    return lim


@dataclass(frozen=True)
class AttributionScale:
    """One utterance's plot scales: ``attribution`` = half-range of the diverging colour scale (or of the
    IG-per-sample axis for waveforms); ``frame`` = half-range of the per-frame mass axis."""

    attribution: float
    frame: float


def _frame_mass(item: Mapping, hop: int) -> np.ndarray:
    fa = item.get("frame_attribution")
    return np.asarray(
        fa if fa is not None else frame_attribution(item["attributions"], hop), dtype=np.float64
    )


def frame_timing(model_cfg: Mapping) -> dict:
    """The time axes of a model's attributions, from its config: ``frame_s`` (seconds per log-mel frame),
    ``sample_rate`` and ``hop`` (waveform samples per wave front-end frame), as ``plot_attribution`` takes them."""
    features = model_cfg["features"]
    return {
        "frame_s": features["hop_ms"] / 1000.0,
        "sample_rate": features["sample_rate"],
        "hop": model_cfg["wave_frontend"]["stride"],
    }


def shared_scales(
    figures: Iterable[Sequence[Mapping]], *, hop: int, quantile: float = 0.995
) -> dict[str, AttributionScale]:
    """One scale per utterance id across ``figures`` (each a list of items, e.g. one per epoch).

    The colour limit is the ``quantile`` (99.5th percentile) of |attribution| pooled over every figure's
    cells of that utterance: a few extreme cells (of any epoch) saturate instead of washing out the rest.
    The per-frame axis covers the largest |mass| of any figure (bars are not clipped).
    """
    cells: dict[str, list[np.ndarray]] = {}
    frames: dict[str, float] = {}
    for items in figures:
        for item in items:
            uid = str(item.get("utt_id"))
            cells.setdefault(uid, []).append(
                np.abs(np.asarray(item["attributions"], dtype=np.float64)).ravel()
            )
            mass = np.abs(_frame_mass(item, hop))
            mass = mass[np.isfinite(mass)]
            frames[uid] = max(frames.get(uid, 0.0), float(mass.max()) if mass.size else 0.0)
    return {
        uid: AttributionScale(symmetric_limit(np.concatenate(c), quantile), frames[uid] or 1.0)
        for uid, c in cells.items()
    }


def _wrap(label: str, text: str | None, width: int = 120) -> str:
    return textwrap.shorten(f"{label}: {text if text else '—'}", width=width, placeholder=" …")


def _mass_panel(ax, times: np.ndarray, mass: np.ndarray, width: float, xlabel: str, lim: float) -> None:
    colours = np.where(mass >= 0, st.POSITIVE_COLOR, st.NEGATIVE_COLOR)
    ax.bar(times, mass, width=width, align="edge", color=colours, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylim(-1.1 * lim, 1.1 * lim)
    ax.set_ylabel("IG per frame (nats)")
    ax.set_xlabel(xlabel)


def plot_attribution(
    items: Sequence[Mapping],
    out_png: str | os.PathLike,
    *,
    title: str | None = None,
    frame_s: float,
    sample_rate: int,
    hop: int,
    scales: Mapping[str, AttributionScale] | None = None,
    shared_by: str | None = None,
) -> dict:
    """Draw utterance attribution records (``read_attributions(path)["items"]``) to ``out_png``, one row each.

    ``frame_s``: seconds per feature frame (the log-mel hop); ``sample_rate`` and ``hop`` for waveform input.
    ``scales``: per utterance id, from :func:`shared_scales` over every figure the utterance appears in (the
    frames of a video); default: this figure's own. ``shared_by`` names those figures on the colour bar
    (e.g. "all 10 epochs"). Returns ``{"path", "limits": [half-range of each utterance's diverging colour
    scale], "frame_limits": [...], "norms": [...], "labels": [the attribution scale's label]}``.
    """
    if not items:
        raise PipelineError(f"plot_attribution {out_png}: no utterances to plot")
    n = len(items)
    unit = [*ROW_HEIGHTS, TEXT_HEIGHT]
    scales = dict(scales) if scales is not None else shared_scales([items], hop=hop)
    missing = [str(it.get("utt_id")) for it in items if str(it.get("utt_id")) not in scales]
    if missing:
        raise PipelineError(
            f"plot_attribution {out_png}: no colour scale for utterances {missing}; compute the "
            "scales with shared_scales over every figure that shows them"
        )
    scope = f"scale shared by {shared_by}" if shared_by else "scale of this figure"
    limits: list[float] = []
    frame_limits: list[float] = []
    norms: list[colors.Normalize] = []
    labels: list[str] = []
    with st.style():
        fig = st.new_figure((st.ATTRIBUTION_WIDTH, n * sum(unit) + 0.7))
        if title:
            fig.suptitle(title)
        outer = fig.add_gridspec(n, 1)
        for i, item in enumerate(items):
            feats = np.asarray(item["features"], dtype=np.float64)
            attr = np.asarray(item["attributions"], dtype=np.float64)
            if feats.shape != attr.shape:
                raise PipelineError(
                    f"plot_attribution {out_png}: utterance {item.get('utt_id')!r} has features "
                    f"{feats.shape} but attributions {attr.shape}"
                )
            mass = _frame_mass(item, hop)
            scale = scales[str(item.get("utt_id"))]
            lim = scale.attribution
            norm = colors.CenteredNorm(vcenter=0.0, halfrange=lim)
            limits.append(lim)
            frame_limits.append(scale.frame)
            norms.append(norm)

            gs = outer[i].subgridspec(
                4,
                2,
                height_ratios=[TEXT_HEIGHT, *ROW_HEIGHTS],
                width_ratios=[1, 0.018],
                hspace=0.08,
                wspace=0.02,
            )
            ax_text = fig.add_subplot(gs[0, :])
            ax_text.axis("off")
            err = item.get("completeness_error")
            head = (
                f"{item.get('utt_id', f'utterance {i + 1}')}    F(x) = {float(item.get('f_input', np.nan)):.2f}, "
                f"F(x') = {float(item.get('f_baseline', np.nan)):.2f}, IG steps {item.get('steps', '?')}, "
                f"completeness error {100 * float(err):.2f} %"
                if err is not None
                else ""
            )
            ax_text.text(0, 1, head, fontweight="bold", va="top", ha="left", transform=ax_text.transAxes)
            ax_text.text(
                0,
                0.45,
                _wrap("reference", item.get("transcript")),
                va="top",
                ha="left",
                transform=ax_text.transAxes,
            )
            ax_text.text(
                0,
                0.0,
                _wrap("greedy", item.get("hypothesis")),
                va="top",
                ha="left",
                transform=ax_text.transAxes,
                color="#555555",
            )

            ax_in = fig.add_subplot(gs[1, 0])
            ax_at = fig.add_subplot(gs[2, 0], sharex=ax_in)
            ax_fr = fig.add_subplot(gs[3, 0], sharex=ax_in)
            if feats.ndim == 2:
                t, f = feats.shape
                extent = (0.0, t * frame_s, 0.0, float(f))
                finite = feats[np.isfinite(feats)]
                vlo, vhi = np.percentile(finite, [1, 99.5]) if finite.size else (0.0, 1.0)
                im = ax_in.imshow(
                    feats.T,
                    origin="lower",
                    aspect="auto",
                    extent=extent,
                    cmap=st.SPECTROGRAM_CMAP,
                    vmin=vlo,
                    vmax=vhi,
                )
                fig.colorbar(im, cax=fig.add_subplot(gs[1, 1]), label="log-mel power (ln)")
                ax_in.set_ylabel("mel bin")
                ia = ax_at.imshow(
                    attr.T, origin="lower", aspect="auto", extent=extent, cmap=st.ATTRIBUTION_CMAP, norm=norm
                )
                label = f"IG per bin (nats)\n±{lim:.3g}: {scope}"
                fig.colorbar(ia, cax=fig.add_subplot(gs[2, 1]), extend="both", label=label)
                ax_at.set_ylabel("mel bin")
                _mass_panel(ax_fr, np.arange(len(mass)) * frame_s, mass, frame_s, "time (s)", scale.frame)
                ax_in.set_xlim(0, t * frame_s)
            elif feats.ndim == 1:
                times = np.arange(len(feats)) / sample_rate
                ax_in.plot(times, feats, color=st.WAVE_COLOR, linewidth=0.5)
                ax_in.set_ylabel("amplitude")
                ax_at.fill_between(times, 0, np.clip(attr, 0, None), color=st.POSITIVE_COLOR, linewidth=0)
                ax_at.fill_between(times, 0, np.clip(attr, None, 0), color=st.NEGATIVE_COLOR, linewidth=0)
                ax_at.set_ylim(-1.05 * lim, 1.05 * lim)
                label = f"IG per sample (nats)\n{scope}"
                ax_at.set_ylabel(label)
                for cax in (gs[1, 1], gs[2, 1]):
                    fig.add_subplot(cax).axis("off")
                _mass_panel(
                    ax_fr,
                    np.arange(len(mass)) * hop / sample_rate,
                    mass,
                    hop / sample_rate,
                    "time (s)",
                    scale.frame,
                )
                ax_in.set_xlim(0, len(feats) / sample_rate)
            else:
                raise PipelineError(
                    f"plot_attribution {out_png}: utterance {item.get('utt_id')!r} has input of "
                    f"shape {feats.shape}; expected [T, F] features or a [S] waveform"
                )
            labels.append(label)
            ax_in.set_title("input", loc="left", fontsize=9, pad=2)
            ax_at.set_title(
                "integrated gradients (red raises F, blue lowers it)", loc="left", fontsize=9, pad=2
            )
            for ax in (ax_in, ax_at):
                ax.tick_params(labelbottom=False)
        path = st.save_figure(fig, out_png)
    return {
        "path": Path(path),
        "limits": limits,
        "frame_limits": frame_limits,
        "norms": norms,
        "labels": labels,
    }
