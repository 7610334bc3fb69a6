"""How low-rank the learned filters and representations are, and how similar across variants and epochs.

kernels: every encoder conv's effective kernel W[k, c, o]; spectra: singular values, effective / stable rank,
activation covariance spectra; cka: streamed linear CKA; blocks: every block's output from one traced
function. Post-hoc rank-r truncation of the weights is its own package, lowrank_asr.compression.

Names are imported lazily (PEP 562): the plotting rules run in the plot environment, without TensorFlow, and
read files through io.py, which must not pull in blocks.py or TensorFlow at import.
"""

from importlib import import_module

_MODULES = {
    "blocks": ("block_names", "block_outputs", "block_reductions", "make_block_outputs_fn", "pool_frames"),
    "cka": ("StreamingCKA", "linear_cka"),
    "kernels": ("ConvKernel", "encoder_kernels"),
    "spectra": (
        "VARIANCE_FRACTIONS",
        "CovarianceAccumulator",
        "KernelSpectrum",
        "components_for_variance",
        "effective_rank",
        "kernel_spectrum",
        "stable_rank",
        "valid_frames",
    ),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
