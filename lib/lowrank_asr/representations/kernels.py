r"""The effective full kernel W[k, c, o] of every convolution of a built model, whatever its factorisation.

W is what the layer computes as one linear map, y[t, o] = Σ_j Σ_c W[j, c, o] · x[s·t + j − pad, c]
(convolutions.py): ``separable`` D[j, c]·P[c, o]; ``lowrank`` P[c, o]·D[j, o]; ``rank`` r
Σᵢ P[c, o·r+i]·D[j, o·r+i]; each layer's own ``full_kernel()`` does the product. Listed, in order:

- every conv layer of every block, ``{block}/conv{i}`` (padding "centred": ⌊(k−1)/2⌋ left);
- the residual projection of blocks with a residual branch, ``{block}/res_conv``: a strided 1×1 conv,
  W = P[None] with k = 1;
- the learnable wave front end, ``wave_frontend/conv`` (padding "valid"), when the model has one.

Stride does not change W (it only subsamples the output grid) and is recorded beside it. Dilation: none of
the layers has one. Batch norm and squeeze-and-excitation are *not* folded into W: BN multiplies output
filter o by γ_o / √(var_o + ε) (``bn_scale``, kept for whoever wants the folded kernel; per-filter ranks
are unchanged by it), and SE is a data-dependent gate per channel, not a fixed linear map.

Spectra of a whole layer are taken on :meth:`ConvKernel.normalised`: every conv followed by batch norm has each
output filter scaled to unit Frobenius norm. BN normalises each filter's output by its batch statistics, so
rescaling a filter leaves the network's function unchanged; the layer's spectrum should not move with it.
Folding BN's inference scale in instead would not do: at the initialisation (moving variance 1) it keeps the
filter-norm spread, and it mixes in γ, which scales the output after normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lowrank_asr.models.convolutions import CONV_TYPES

CENTRED, VALID = "centred", "valid"


@dataclass(frozen=True)
class ConvKernel:
    name: str  # e.g. "C1/conv0", "C1/res_conv", "wave_frontend/conv"
    block: str  # "C1" ("frontend" for the wave front end)
    kind: str  # separable | lowrank | rank | pointwise | dense
    kernel: np.ndarray  # W[k, c_in, c_out], float64
    stride: int
    padding: str  # CENTRED or VALID
    bn_scale: np.ndarray | None  # [c_out] γ / √(var + ε) of the BN that follows, or None

    def normalised(self) -> np.ndarray:
        """W with every output filter at unit Frobenius norm when a batch norm follows (W itself otherwise, and
        zero filters stay zero): the kernel up to the per-filter scale that the BN makes irrelevant."""
        if self.bn_scale is None:
            return self.kernel
        norms = np.sqrt(np.sum(self.kernel**2, axis=(0, 1)))
        return self.kernel / np.where(norms > 0, norms, 1.0)[None, None, :]

    def folded(self) -> np.ndarray:
        """W with the following batch norm's per-filter scale folded in (W itself when there is none)."""
        return self.kernel if self.bn_scale is None else self.kernel * self.bn_scale[None, None, :]


def bn_scale(bn) -> np.ndarray:
    """Per-channel inference scale γ / √(moving_var + ε) of a Keras BatchNormalization layer."""
    gamma = bn.gamma.numpy() if bn.gamma is not None else 1.0
    return np.asarray(gamma, np.float64) / np.sqrt(bn.moving_variance.numpy().astype(np.float64) + bn.epsilon)


def _kind(conv) -> str:
    for name, cls in CONV_TYPES.items():
        if type(conv) is cls:
            return name
    raise TypeError(f"unknown conv layer type {type(conv).__name__}; add it to convolutions.CONV_TYPES")


def encoder_kernels(model) -> list[ConvKernel]:
    """Every convolution of a built ``ASRModel`` (front end, then blocks in order), as float64 kernels."""
    out: list[ConvKernel] = []
    if getattr(model, "wave", None) is not None:
        conv = model.wave.conv
        out.append(
            ConvKernel(
                "wave_frontend/conv",
                "frontend",
                "dense",
                conv.kernel.numpy().astype(np.float64),
                int(conv.strides[0]),
                VALID,
                None,
            )
        )
    for block in model.encoder.blocks:
        name = block.spec.name
        for i, layer in enumerate(block.layers_):
            out.append(
                ConvKernel(
                    f"{name}/conv{i}",
                    name,
                    _kind(layer.conv),
                    layer.conv.full_kernel().numpy().astype(np.float64),
                    int(layer.stride),
                    CENTRED,
                    bn_scale(layer.bn),
                )
            )
        if block.spec.residual:
            kernel = block.res_conv.kernel.numpy().astype(np.float64)[None]
            out.append(
                ConvKernel(
                    f"{name}/res_conv",
                    name,
                    "pointwise",
                    kernel,
                    int(block.res_conv.stride),
                    CENTRED,
                    bn_scale(block.res_bn),
                )
            )
    return out


def conv_reference(x: np.ndarray, kernel: np.ndarray, stride: int, padding: str = CENTRED) -> np.ndarray:
    """Direct float64 convolution of x [B, T, c] by W [k, c, o] with the layers' padding rule (for checks)."""
    x = np.asarray(x, np.float64)
    k = kernel.shape[0]
    if padding == CENTRED:
        x = np.pad(x, [(0, 0), ((k - 1) // 2, k // 2), (0, 0)])
    n_out = (x.shape[1] - k) // stride + 1
    windows = np.stack(
        [x[:, j : j + stride * (n_out - 1) + 1 : stride] for j in range(k)], axis=2
    )  # [B,T',k,c]
    return np.einsum("btjc,jco->bto", windows, kernel)
