"""How low-rank the learned filters and representations are, and how similar across variants and epochs.

kernels: every encoder conv's effective kernel W[k, c, o]; spectra: singular values, effective / stable rank,
activation covariance spectra; cka: streamed linear CKA; blocks: every block's output from one traced
function; truncation / batchnorm: post-hoc rank-r approximation of the dense weights and BN recalibration.
"""

from lowrank_asr.representations.batchnorm import recalibrate_batch_norm
from lowrank_asr.representations.blocks import (
    block_names,
    block_outputs,
    block_reductions,
    make_block_outputs_fn,
    pool_frames,
)
from lowrank_asr.representations.cka import StreamingCKA, linear_cka
from lowrank_asr.representations.kernels import ConvKernel, encoder_kernels
from lowrank_asr.representations.spectra import (
    VARIANCE_FRACTIONS,
    CovarianceAccumulator,
    KernelSpectrum,
    components_for_variance,
    effective_rank,
    kernel_spectrum,
    stable_rank,
    valid_frames,
)
from lowrank_asr.representations.truncation import (
    Truncation,
    layer_params,
    rank_for_fraction,
    snapshot_dense_weights,
    truncate,
    truncate_encoder,
)

__all__ = [
    "VARIANCE_FRACTIONS", "ConvKernel", "CovarianceAccumulator", "KernelSpectrum", "StreamingCKA", "Truncation",
    "block_names", "block_outputs", "block_reductions", "components_for_variance", "effective_rank",
    "encoder_kernels", "kernel_spectrum", "layer_params", "linear_cka", "make_block_outputs_fn", "pool_frames",
    "rank_for_fraction", "recalibrate_batch_norm", "snapshot_dense_weights", "stable_rank", "truncate",
    "truncate_encoder", "valid_frames",
]
