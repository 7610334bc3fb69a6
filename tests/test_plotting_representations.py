"""Figures of the representation analyses: valid PNGs, one panel per block, shared scales across epochs."""

import numpy as np
import pytest
from PIL import Image

from lowrank_asr.compression.tables import (
    CSV_COLUMNS,
    read_compression_csv,
    write_compression_csv,
    write_compression_table,
)
from lowrank_asr.errors import PipelineError
from lowrank_asr.hdf5 import provenance
from lowrank_asr.plotting.compression import plot_compression
from lowrank_asr.plotting.representations import (
    SPECTRUM_FLOOR,
    activation_effective_rank,
    cka_final_matrix,
    kernel_effective_rank,
    plot_cka_final,
    plot_cka_variants,
    plot_effective_rank,
    plot_spectra,
    spectra_limits,
)
from lowrank_asr.representations.analysis import EpochRepresentations
from lowrank_asr.representations.io import (
    read_representations,
    read_variant_similarity,
    write_representations,
    write_variant_similarity,
)
from lowrank_asr.representations.kernels import CENTRED, ConvKernel
from lowrank_asr.representations.spectra import CovarianceAccumulator, kernel_spectrum

BLOCKS = ["C0", "C1", "C2"]


def _png(path):
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return im.format, im.size


def _epoch_file(tmp_path, variant: str, epoch: int, decay: float) -> dict:
    """A real representations file: kernels and outputs whose spectra decay like decay**i (steeper = lower rank)."""
    rng = np.random.default_rng(epoch)
    kernels, acts = [], []
    for b in BLOCKS:
        for i in range(2):
            u, _ = np.linalg.qr(rng.normal(size=(15, 15)))
            v, _ = np.linalg.qr(rng.normal(size=(8, 8)))
            w = (u[:, :8] * decay ** np.arange(8)) @ v.T
            k = ConvKernel(f"{b}/conv{i}", b, "separable", w.reshape(5, 3, 8), 1, CENTRED, None)
            kernels.append((k, kernel_spectrum(k.kernel)))
        acc = CovarianceAccumulator(8)
        acc.update(rng.normal(size=(200, 8)) * decay ** np.arange(8))
        acts.append(acc.spectrum())
    cka = np.clip(0.5 + 0.05 * epoch + 0.1 * np.eye(3), 0, 1)
    result = EpochRepresentations(BLOCKS, kernels, acts, cka, ["u1", "u2"])
    path = tmp_path / variant / f"epoch_{epoch:03d}.h5"
    write_representations(
        path, result, provenance(seed=5, config={}, code="abc", variant=variant, epoch=epoch, final_epoch=3)
    )
    return read_representations(path)


@pytest.fixture()
def series(tmp_path):
    return {
        v: {e: _epoch_file(tmp_path, v, e, decay) for e in (1, 2, 3)}
        for v, decay in (("contextnet", 0.9), ("lowrank", 0.4))
    }


def test_effective_rank_lines_per_variant_and_block(series, tmp_path):
    info = plot_effective_rank(series, tmp_path / "rank.png")
    assert _png(info["path"])[0] == "PNG"
    assert info["blocks"] == BLOCKS
    for kind in ("weights", "activations"):
        for b in BLOCKS:
            # the faster-decaying (lowrank) spectra give the lower effective rank at every epoch
            assert all(
                lo < hi
                for lo, hi in zip(
                    info["values"][(kind, "lowrank", b)], info["values"][(kind, "contextnet", b)], strict=True
                )
            )
            assert len(info["values"][(kind, "contextnet", b)]) == 3
    rep = series["contextnet"][1]
    assert kernel_effective_rank(rep, "C1") == pytest.approx(
        np.mean([rep["kernels"]["C1"][c]["attrs"]["effective_rank"] for c in ("conv0", "conv1")])
    )
    assert 1.0 < activation_effective_rank(rep, "C1") <= 8.0


def test_spectra_frames_share_one_y_range(series, tmp_path):
    reps = [r for by_epoch in series.values() for r in by_epoch.values()]
    lo, hi = spectra_limits(reps)
    assert SPECTRUM_FLOOR <= lo < 0.4**7 and hi > 1.0
    sizes = set()
    for e in (1, 2, 3):
        info = plot_spectra(
            {v: series[v][e] for v in series}, tmp_path / f"spectra/epoch_{e:03d}.png", ylim=(lo, hi)
        )
        assert info["blocks"] == BLOCKS and all(y == pytest.approx((lo, hi)) for y in info["axes_ylim"])
        sizes.add(_png(info["path"])[1])
    assert len(sizes) == 1  # every frame the same size: a valid video
    # without ylim a frame gets the range of its own spectra
    own = plot_spectra({"contextnet": series["contextnet"][1]}, tmp_path / "own.png")
    assert own["ylim"][0] >= lo


def test_cka_final_heat_map_is_the_diagonal_per_epoch(series, tmp_path):
    blocks, epochs, matrix = cka_final_matrix(series["lowrank"])
    assert blocks == BLOCKS and epochs == [1, 2, 3] and matrix.shape == (3, 3)
    assert matrix[:, 2] == pytest.approx([0.75] * 3) and matrix[0, 0] == pytest.approx(0.65)  # diagonal only
    info = plot_cka_final(series, tmp_path / "cka_final.png")
    assert (info["norm"].vmin, info["norm"].vmax) == (0.0, 1.0)
    assert set(info["matrices"]) == {"contextnet", "lowrank"} and _png(info["path"])[0] == "PNG"


def test_cka_variants_one_panel_per_pair_and_epoch(tmp_path):
    blocks = {"a": BLOCKS, "b": BLOCKS, "c": BLOCKS[:2]}
    similarity = {}
    for epoch in (1, 4):
        cka = {("a", "b"): np.full((3, 3), 0.3), ("a", "c"): np.full((3, 2), 0.5), ("b", "c"): np.eye(3, 2)}
        path = write_variant_similarity(
            tmp_path / f"v{epoch}.h5",
            cka,
            blocks,
            ["u1"],
            provenance(seed=5, config={}, code="abc", epoch=epoch),
        )
        similarity[epoch] = read_variant_similarity(path)
    info = plot_cka_variants(similarity, tmp_path / "cka_variants.png")
    assert info["epochs"] == [1, 4] and len(info["pairs"]) == 3 and _png(info["path"])[0] == "PNG"
    with pytest.raises(PipelineError, match="nothing to plot"):
        plot_cka_variants({}, tmp_path / "none.png")


def test_compression_table_gathers_variants_and_plot_has_a_curve_each(tmp_path):
    paths = []
    for variant, base in (("contextnet", 200_000), ("lowrank", 80_000)):
        rows = [
            {
                "fraction": f,
                "split": s,
                "greedy_wer": 0.2 + (1 - f) * 0.5,
                "greedy_cer": 0.1,
                "params": int(base * (0.5 + f / 2)),
                "encoder_params": base // 2,
                "truncated_params": base // 4,
                "utterances": 10,
                "recalibration_batches": 0 if f == 1 else 2,
            }
            for f in (1.0, 0.5, 0.25)
            for s in ("test-clean", "test-other")
        ]
        write_compression_csv(rows, variant, tmp_path / f"{variant}.csv")
        paths.append(tmp_path / f"{variant}.csv")
    rows = write_compression_table(paths, tmp_path / "compression.csv")
    assert len(rows) == 12 and read_compression_csv(tmp_path / "compression.csv") == rows
    assert (tmp_path / "compression.csv").read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    info = plot_compression(rows, tmp_path / "compression.png")
    assert info["splits"] == ["test-clean", "test-other"] and len(info["curves"]) == 4
    xs, ys = info["curves"][("lowrank", "test-clean")]
    assert xs == sorted(xs) and ys[-1] == pytest.approx(0.2)  # the full-rank point is the largest model
    assert _png(info["path"])[0] == "PNG"
    (tmp_path / "bad.csv").write_text("variant,split\nx,y\n")
    with pytest.raises(PipelineError, match="compression columns"):
        read_compression_csv(tmp_path / "bad.csv")
