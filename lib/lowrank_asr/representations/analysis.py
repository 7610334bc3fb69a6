"""The representation analyses of trained variants on the analysis subset of a split (``data.subset``: its first
utterances), streamed in batches.

- ``variant_representations``: one variant at each of its epochs: spectra of every conv kernel, covariance spectra of every
  block's output (valid frames at the block's own frame rate), and linear CKA block × block against the same
  variant's final epoch.
- ``variant_similarities``: every pair of variants at each epoch: linear CKA block × block.

Every model sees the same batches; nothing is kept per frame (float64 moments only), so memory does not grow
with the subset. For CKA all blocks are pooled to the coarsest frame rate of the models compared
(``blocks.pool_frames``), so every pair of blocks is compared on the same frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lowrank_asr.data.dataset import make_dataset
from lowrank_asr.data.subset import subset_ids
from lowrank_asr.errors import PipelineError
from lowrank_asr.representations.blocks import block_names, block_outputs, block_reductions, pool_frames
from lowrank_asr.representations.cka import StreamingCKA
from lowrank_asr.representations.kernels import ConvKernel, encoder_kernels
from lowrank_asr.representations.spectra import (
    ActivationSpectrum,
    CovarianceAccumulator,
    KernelSpectrum,
    kernel_spectrum,
    valid_frames,
)
from lowrank_asr.trained_run.run import TrainedRun


def pooled_frames(
    outputs: Sequence[tuple[np.ndarray, np.ndarray]], reductions: Sequence[int], target: int
) -> list[np.ndarray]:
    """Valid frames [N, C_b] of every block pooled from its reduction R_b to ``target`` (a multiple of it)."""
    frames = []
    for (y, lengths), red in zip(outputs, reductions, strict=True):
        if target % red:
            raise PipelineError(f"cannot pool frames at time reduction {red} to {target}: not a multiple")
        frames.append(valid_frames(*pool_frames(y, lengths, target // red)))
    return frames


def _check_same_frames(frames: Sequence[Sequence[np.ndarray]], names: Sequence[str]) -> None:
    counts = {name: f[0].shape[0] for name, f in zip(names, frames, strict=True)}
    if len(set(counts.values())) > 1:
        raise PipelineError(
            f"the models give different numbers of frames on the same batch ({counts}); "
            "compare variants with the same front end frame rate"
        )


@dataclass
class EpochRepresentations:
    blocks: list[str]
    kernels: list[tuple[ConvKernel, KernelSpectrum]]
    activations: list[ActivationSpectrum]  # per block
    cka_final: np.ndarray  # [blocks, blocks]: this epoch's block i against the final epoch's j
    subset_ids: list[str]


def analyse_epoch(model, final_model, batches: Iterable[dict]) -> EpochRepresentations:
    """Spectra of ``model`` and its CKA against ``final_model`` (may be the same object) on ``batches``."""
    names, reductions = block_names(model), block_reductions(model)
    final_reductions = block_reductions(final_model)
    target = max(reductions[-1], final_reductions[-1])
    covs = [CovarianceAccumulator(spec.channels) for spec in model.specs]
    cka = StreamingCKA([s.channels for s in model.specs], [s.channels for s in final_model.specs])
    ids: list[str] = []
    for batch in batches:
        outs = block_outputs(model, batch["audio"], batch["audio_len"])
        for acc, (y, lengths) in zip(covs, outs, strict=True):
            acc.update(valid_frames(y, lengths))
        xs = pooled_frames(outs, reductions, target)
        if final_model is model:
            ys = xs
        else:
            ys = pooled_frames(
                block_outputs(final_model, batch["audio"], batch["audio_len"]), final_reductions, target
            )
        cka.update(xs, ys)
        ids += [v.decode() for v in batch["utt_id"].numpy().tolist()]
    if not ids:
        raise PipelineError("analyse_epoch: no batches; the analysis subset is empty")
    kernels = [(k, kernel_spectrum(k.normalised())) for k in encoder_kernels(model)]  # BN-invariant
    return EpochRepresentations(names, kernels, [acc.spectrum() for acc in covs], cka.matrix(), ids)


def analyse_variants(
    models: dict[str, object], batches: Iterable[dict]
) -> tuple[dict[tuple[str, str], np.ndarray], list[str]]:
    """{(a, b): CKA [blocks_a, blocks_b]} for every pair a < b (in the given order) and the utterance ids."""
    names = list(models)
    reductions = {n: block_reductions(m) for n, m in models.items()}
    target = max(r[-1] for r in reductions.values())
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    accs = {
        (a, b): StreamingCKA([s.channels for s in models[a].specs], [s.channels for s in models[b].specs])
        for a, b in pairs
    }
    ids: list[str] = []
    for batch in batches:
        frames = {
            n: pooled_frames(block_outputs(m, batch["audio"], batch["audio_len"]), reductions[n], target)
            for n, m in models.items()
        }
        _check_same_frames(list(frames.values()), names)
        for a, b in pairs:
            accs[(a, b)].update(frames[a], frames[b])
        ids += [v.decode() for v in batch["utt_id"].numpy().tolist()]
    if not ids:
        raise PipelineError("analyse_variants: no batches; the analysis subset is empty")
    return {pair: acc.matrix() for pair, acc in accs.items()}, ids


def subset_batches(
    data_files: Sequence[str], vocab, *, subset: int, batch_size: int, batch_seconds: float | None
):
    """The analysis subset as padded batches (the same for every model and epoch): ``batch_size`` utterances in
    file order, or by duration under ``batch_seconds`` padded seconds per batch (evaluation.batch_seconds)."""
    ids = subset_ids(data_files, subset)
    return make_dataset(
        list(data_files),
        vocab,
        batch_size=batch_size,
        training=False,
        seed=0,
        utt_ids=ids,
        batch_seconds=batch_seconds,
        max_duration=None,
    )


def variant_representations(
    *,
    model_cfg: dict,
    vocab_path: str | Path,
    epoch_weights: Mapping[int, str | Path],
    final_weights_path: str | Path,
    data_files: Sequence[str],
    subset: int,
    batch_size: int,
    batch_seconds: float | None,
) -> Iterator[tuple[int, EpochRepresentations]]:
    """(epoch, ``analyse_epoch`` against the final epoch) for each of a variant's epochs, in epoch order.

    One model is built (and its block function traced) for all epochs, whose weights are loaded into it in
    turn, plus one for the final epoch: the per-job cost is start-up, not the number of epochs.
    """
    final_run = TrainedRun(model_cfg, vocab_path)
    final = final_run.load(final_weights_path)
    batches = subset_batches(
        data_files, final_run.vocab, subset=subset, batch_size=batch_size, batch_seconds=batch_seconds
    )
    run = TrainedRun(
        model_cfg, vocab_path
    )  # its model is built only if an epoch other than the final is analysed
    epochs = sorted(epoch_weights)
    is_final = {e: Path(epoch_weights[e]).resolve() == Path(final_weights_path).resolve() for e in epochs}
    others = [epoch_weights[e] for e in epochs if not is_final[e]]
    loaded = run.epochs(others) if others else iter(())
    for epoch in epochs:
        model = final if is_final[epoch] else next(loaded)[1]
        yield epoch, analyse_epoch(model, final, batches)


def variant_similarities(
    *,
    model_cfgs: Mapping[str, dict],
    vocab_path: str | Path,
    epoch_weights: Mapping[int, Mapping[str, str | Path]],
    data_files: Sequence[str],
    subset: int,
    batch_size: int,
    batch_seconds: float | None,
):
    """(epoch, {(a, b): CKA}, utterance ids) for each epoch, ``epoch_weights[epoch][variant]`` the weights.

    Each variant's model is built once and gets every epoch's weights in turn.
    """
    epochs = sorted(epoch_weights)
    runs = {name: TrainedRun(cfg, vocab_path) for name, cfg in model_cfgs.items()}
    loops = {name: run.epochs([epoch_weights[e][name] for e in epochs]) for name, run in runs.items()}
    batches = None
    for epoch in epochs:
        models = {name: next(loop)[1] for name, loop in loops.items()}
        if batches is None:
            batches = subset_batches(
                data_files,
                next(iter(runs.values())).vocab,
                subset=subset,
                batch_size=batch_size,
                batch_seconds=batch_seconds,
            )
        cka, ids = analyse_variants(models, batches)
        yield epoch, cka, ids
