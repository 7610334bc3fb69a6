"""Memory and time model of the LibriSpeech recipe (issue 11): the GPU profiles' budgets and the GPU-days plan.

Memory of one training step (``tests/benchmarks/bench_memory_model.py``, ContextNet-S of config/librispeech.yaml,
V = 1 024, J = 640)::

    peak = fixed + a · padded input frames of the micro-batch + b · joint cells of one joint sub-batch

``a`` (per 10-ms frame: every activation the backward pass keeps, the encoder's and the prediction network's) and
``b`` (per cell of the [T', U+1] lattice: joint activations, logits, log-softmax and their gradients) are measured
in float32 as peak RSS on CPU; the mixed-precision ones are derived (see ``MEMORY``). On a GPU the fixed part is
not the CPU's (TensorFlow's libraries are host memory): it is the optimizer state of the weights plus the CUDA
runtime (``gpu_fixed_mb``). With ``training.joint_chunk: c`` the joint holds c utterances at a time, at most
c · T'(longest) · (U(longest) + 1) cells. The profiles' budgets keep the predicted peak at or below
(1 - HEADROOM) of the card (``tests/test_profiles.py`` checks each profile against this module). The evaluation
budget (evaluation.batch_seconds) serves decoding and every analysis: it is sized for the dearest one a profile
runs on the card (``ANALYSIS_MEMORY``: sharpness' Hessian-vector products hold 4.26x a gradient pass), at the
longest evaluated utterance; where even that utterance's products exceed the card, sharpness runs on the host
and its profile declares ``host_mb("sharpness", ...)``, Lanczos' basis included.

Time: FLOPs per second of audio from the model summary's multiply-adds (``lowrank_asr.models.summary``), training
= forward + backward (x 3; the chunked joint recomputes its forward in the backward pass: x 4), at an assumed
fraction of each card's peak (``UTILISATION``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from lowrank_asr.config import variant_model_config
from lowrank_asr.config_files import load_yaml, with_defaults
from lowrank_asr.models import build_model

PLAN_VOCAB = 1024  # the sizes the coefficients were measured at (config/librispeech.yaml)
PLAN_JOINT_UNITS = 640
FRAMES_PER_SECOND = 100  # the log-mel front end's 10-ms hop
ENCODER_STRIDE = 8  # ContextNet's three stride-2 blocks: T' = ceil(frames / 8)
MAX_DURATION = 17.0  # config/librispeech.yaml data.max_duration: the longest utterance of any batch
# LibriSpeech's longest dev/test utterance (dev-other, ~35.2 s): evaluation keeps every utterance, so an evaluation
# budget below this stops the evaluate job at that utterance
LONGEST_EVAL_UTTERANCE = 35.2
# Word-pieces per second of audio (assumed until the recipe's vocabulary exists: LibriSpeech's 960 h hold ~9.4 M
# words, 2.7 words/s, and a 1 024-piece unigram model splits a word into ~1.4 pieces): the mean, and a generous
# upper value for the longest label sequence a batch can hold.
TOKENS_PER_SECOND = 3.8
TOKENS_PER_SECOND_MAX = 5.0
# E[d^2] / E[d] of the 960-h training utterances (mean 12.3 s, sd ~3.9 s): the lattice T' x (U+1) of an utterance
# grows with d^2, so per second of audio it scales with this length, not with the mean.
LATTICE_SECONDS = 13.5
HOURS_960 = 960.0
HEADROOM = 0.25  # the predicted peak stays below 75 % of the card: allocator fragmentation, cuDNN workspaces


@dataclass(frozen=True)
class MemoryCoefficients:
    mb_per_input_frame: float  # a: MB per padded 10-ms input frame of the micro-batch (ContextNet-S width)
    mb_per_joint_cell: float  # b: MB per cell B_sub x T' x (U+1) of one joint sub-batch
    origin: str


# float32: measured by tests/benchmarks/bench_memory_model.py (8 points, B 2-8, 4-8 s, U 10-80, unchunked joint;
# least squares on peak RSS, R^2 0.989, RMS residual 74 MB; a held-out 16-s point and the 16-s points of
# bench_memory.py are predicted within 4.5 %). mixed: derived (docs/performance.md, "Memory and time model").
CPU_FIXED_MB = (
    2063.0  # the fit's intercept (host RSS: TensorFlow, the traced step, weights, Adam); not GPU memory
)
MEMORY = {
    "float32": MemoryCoefficients(0.1470, 0.02107, "measured"),
    # keras mixed_float16 on CPU is 12-34x slower and its peak higher than float32's (CPU float16 kernels work
    # in float32 copies), so not representative of a GPU: derived instead. a: float16 activations, half; b: the
    # RNN-T loss casts the logits to float32 (lowrank_asr.losses.rnnt), so no saving is counted.
    "mixed": MemoryCoefficients(
        0.1470 / 2,
        0.02107,
        "derived: float16 activations; the joint's logits are cast to float32 for the loss",
    ),
}
GPU_RUNTIME_MB = (
    1500.0  # CUDA context, cuDNN/cuBLAS handles and workspaces (assumed, typical of TF 2 on one GPU)
)
BYTES_PER_PARAM = (
    16  # float32 weights, gradients and Adam's two slots (Keras keeps float32 weights when mixed)
)
# The widest variant of config/librispeech.yaml, which every budget must fit (one training config for all
# variants): contextnet_l, alpha 2 = 4x ContextNet-S's channels (activations per frame scale with the width, not
# measured), 107 956 112 parameters at V = 1 024 (python -m lowrank_asr.models summary).
PLAN_WIDTH = 4.0
PLAN_PARAMS = 107_956_112
# Host memory of a GPU job beside CPU_FIXED_MB (assumed): the CUDA/cuDNN libraries TensorFlow maps, and the
# input pipeline's shuffle buffer and prefetched batches of FLAC bytes.
CUDA_HOST_MB = 2500.0
PIPELINE_MB = 1000.0


@dataclass(frozen=True)
class Card:
    name: str
    memory_gb: float
    fp32_tflops: float  # peak, no tensor cores
    fp16_tflops: float  # peak of the float16 tensor cores (dense)


CARDS = {
    "quadro": Card("Quadro RTX 4000", 8.0, 7.1, 57.0),
    "v100": Card("Tesla V100 16 GB (SXM2)", 16.0, 15.7, 125.0),
    "a100": Card("A100 40 GB", 40.0, 19.5, 312.0),
}
# Fraction of the peak a training step sustains. float32: 30 % of the fp32 peak (convolutions and the joint's
# matmuls are large enough to run near peak; batch norm, Swish, SE, depthwise convolutions and the loss are
# memory-bound). mixed: 10 % of the tensor-core peak (the same memory-bound ops gain only the 2x of half-size
# tensors while the peak grows 8-16x).
UTILISATION = {"float32": 0.30, "mixed": 0.10}
# The RNN-T loss runs its anti-diagonals one after another (lowrank_asr.losses.rnnt): T' + U small steps per joint
# sub-batch whatever its size, latency- not FLOP-bound on a GPU. Assumed (not measured, no GPU here): 0.4 ms per
# diagonal for its forward, the chunked recompute and the backward together (~30 small kernels of ~10 us plus the
# while loop's host round trip). Larger training.joint_chunk amortises it.
LOSS_DIAGONAL_S = 4e-4
# Per-batch memory of each analysis that runs under evaluation.batch_seconds, as a multiple of a gradient pass
# (the training coefficients): decoding, the loss grid and integrated gradients are bounded by one; sharpness'
# Hessian-vector products (double backprop through the RNN-T loss) hold 4.26x: tests/benchmarks/results/
# hvp_memory.json (peak RSS on CPU, ContextNet-S, two 16-s micro-batches: 4 221 MB above the same base where
# a gradient holds 991 MB; tests/benchmarks/bench_hvp_memory.py).
HVP_OVER_GRADIENT = 4.26
ANALYSIS_MEMORY = {
    "evaluate": 1.0,
    "loss_grid": 1.0,
    "integrated_gradients": 1.0,
    "sharpness": HVP_OVER_GRADIENT,
}
# Sharpness' Lanczos keeps its basis on the host in float32 (geometry.hessian.lanczos: iterations x parameters x
# 4 B) beside about four float64 working vectors (the start vector, the product, its reorthogonalised copy and a
# row's float64 copy): counted from the code, not measured.
LANCZOS_FLOAT64_VECTORS = 4
UTTERANCES_960 = 281_241  # train-clean-100 + train-clean-360 + train-other-500
EVAL_UTTERANCE_S = 7.3  # mean utterance of dev-clean / test-clean (5.4 h / 2 703, 5.4 h / 2 620)


def encoder_frames(seconds: float) -> int:
    # rounded first: 35.2 x 100 is 3520.0000000000005 in binary, whose ceiling / 8 would be one frame too many
    return math.ceil(round(seconds * FRAMES_PER_SECOND, 6) / ENCODER_STRIDE)


def max_joint_cells(joint_chunk: int, longest: float = MAX_DURATION) -> int:
    """Cells of the largest joint sub-batch: ``joint_chunk`` utterances of the longest duration and labels."""
    return joint_chunk * encoder_frames(longest) * (math.ceil(TOKENS_PER_SECOND_MAX * longest) + 1)


def gpu_fixed_mb(params: int = PLAN_PARAMS) -> float:
    return GPU_RUNTIME_MB + params * BYTES_PER_PARAM / 2**20


def training_peak_mb(
    batch_seconds: float,
    joint_chunk: int,
    precision: str,
    *,
    params: int = PLAN_PARAMS,
    width: float = PLAN_WIDTH,
) -> float:
    """Predicted GPU memory of a training micro-batch of ``batch_seconds`` padded audio (batch x longest) with the
    joint over ``joint_chunk`` utterances at a time."""
    coef = MEMORY[precision]
    return (
        gpu_fixed_mb(params)
        + coef.mb_per_input_frame * width * batch_seconds * FRAMES_PER_SECOND
        + coef.mb_per_joint_cell * max_joint_cells(joint_chunk)
    )


def evaluation_peak_mb(
    batch_seconds: float,
    analysis: str = "evaluate",
    *,
    params: int = PLAN_PARAMS,
    width: float = PLAN_WIDTH,
) -> float:
    """Predicted GPU memory of an evaluation / analysis micro-batch of ``batch_seconds`` padded audio: float32
    (the analyses set no mixed policy), the joint over the whole batch (the loss grid and integrated gradients do
    not chunk it), the per-batch part scaled by ``ANALYSIS_MEMORY[analysis]`` (a gradient pass: the training
    coefficients bound decoding, the loss grid and integrated gradients; sharpness' Hessian-vector products hold
    HVP_OVER_GRADIENT times that).

    Evaluation keeps every utterance, up to LONGEST_EVAL_UTTERANCE. A batch of B padded seconds holds B / L
    utterances of length L, whose joint cells grow as L² each: B / L · T'(L) · (U(L) + 1) grows with L, so the
    worst case is batch_seconds / LONGEST_EVAL_UTTERANCE utterances of the longest (not of the training
    MAX_DURATION, which underestimated the joint ~2x)."""
    coef = MEMORY["float32"]
    utterances = batch_seconds / LONGEST_EVAL_UTTERANCE
    per_batch = coef.mb_per_input_frame * width * batch_seconds * FRAMES_PER_SECOND + (
        coef.mb_per_joint_cell * utterances * max_joint_cells(1, LONGEST_EVAL_UTTERANCE)
    )
    return gpu_fixed_mb(params) + ANALYSIS_MEMORY[analysis] * per_batch


def usable_mb(card: Card) -> float:
    return card.memory_gb * 1024 * (1 - HEADROOM)


def max_batch_seconds(
    card: Card, joint_chunk: int, precision: str, *, params: int = PLAN_PARAMS, width: float = PLAN_WIDTH
) -> float:
    """The largest training micro-batch (padded seconds) whose predicted peak fits ``usable_mb(card)``."""
    zero = training_peak_mb(0.0, joint_chunk, precision, params=params, width=width)
    per_second = training_peak_mb(1.0, joint_chunk, precision, params=params, width=width) - zero
    return max(usable_mb(card) - zero, 0.0) / per_second


def max_evaluation_seconds(
    card: Card, analysis: str = "evaluate", *, params: int = PLAN_PARAMS, width: float = PLAN_WIDTH
) -> float:
    """The largest evaluation.batch_seconds whose predicted ``analysis`` peak fits ``usable_mb(card)``."""
    zero = evaluation_peak_mb(0.0, analysis, params=params, width=width)
    per_second = evaluation_peak_mb(1.0, analysis, params=params, width=width) - zero
    return max(usable_mb(card) - zero, 0.0) / per_second


def dearest_analysis(analyses: list[str]) -> str:
    """Of the analyses that share the evaluation budget on a card, the one whose per-batch memory is largest."""
    return max(analyses, key=ANALYSIS_MEMORY.__getitem__)


# --- time -----------------------------------------------------------------------------------------------------


def forward_macs_per_second(rows: list[dict], vocab: int) -> dict[str, float]:
    """Forward multiply-adds per second of audio of a training/loss pass, from ``summary_table`` rows: the joint
    over the whole lattice (LATTICE_SECONDS, TOKENS_PER_SECOND) instead of the summary's one cell per frame."""
    by_name = {row["name"]: row for row in rows}
    front = sum(row["macs"] for name, row in by_name.items() if name in ("logmel", "wave_frontend"))
    encoder = sum(
        row["macs"]
        for name, row in by_name.items()
        if name not in ("logmel", "wave_frontend", "prediction", "joint")
    )
    joint = by_name["joint"]
    rate, units = joint["frame_rate"], joint["channels"]
    d_model = [row for row in rows if row["name"] not in ("prediction", "joint")][-1]["channels"]
    cells = rate * (TOKENS_PER_SECOND * LATTICE_SECONDS + 1)
    return {
        "frontend": front,
        "frontend_trainable": "wave_frontend" in by_name,
        "encoder": encoder,
        "prediction": by_name["prediction"]["macs"] * TOKENS_PER_SECOND,
        "joint_projection": rate * d_model * units,
        "lattice": cells * (units * vocab + units),
    }


def training_flops_per_second(macs: dict[str, float], chunked: bool = True) -> float:
    """FLOPs (2 per multiply-add) of forward + backward per second of audio; the log-mel front end has no gradient."""
    front = macs["frontend"] * (3 if macs["frontend_trainable"] else 1)
    dense = macs["encoder"] + macs["prediction"] + macs["joint_projection"]
    return 2 * (front + 3 * dense + (4 if chunked else 3) * macs["lattice"])


def loss_flops_per_second(macs: dict[str, float]) -> float:
    """FLOPs of one loss evaluation (forward only) per second of audio: a loss-grid point."""
    return 2 * (
        macs["frontend"] + macs["encoder"] + macs["prediction"] + macs["joint_projection"] + macs["lattice"]
    )


def sustained_flops(card: Card, precision: str) -> float:
    peak = card.fp16_tflops if precision == "mixed" else card.fp32_tflops
    return UTILISATION[precision] * peak * 1e12


def hours(flops: float, card: Card, precision: str) -> float:
    return flops / sustained_flops(card, precision) / 3600


def loss_latency_hours(utterances: int, joint_chunk: int) -> float:
    """Sequential diagonal steps of the RNN-T loss over ``utterances`` in sub-batches of ``joint_chunk``."""
    diagonals = encoder_frames(LATTICE_SECONDS) + TOKENS_PER_SECOND * LATTICE_SECONDS
    return utterances / joint_chunk * diagonals * LOSS_DIAGONAL_S / 3600


def epoch_hours(macs: dict[str, float], card: Card, precision: str, joint_chunk: int) -> float:
    """One epoch of the 960 h (joint_chunk >= 1): the FLOPs at the assumed utilisation plus the loss's
    sequential steps."""
    flops = training_flops_per_second(macs) * HOURS_960 * 3600
    return hours(flops, card, precision) + loss_latency_hours(UTTERANCES_960, joint_chunk)


def host_mb(
    job: str,
    params: int = PLAN_PARAMS,
    *,
    batch_seconds: float,
    iterations: int,
    width: float = PLAN_WIDTH,
) -> float:
    """Host memory of a job: TensorFlow as measured on CPU (CPU_FIXED_MB), the CUDA libraries, the input pipeline
    and, for training, host copies of the weights and Adam slots as each epoch's checkpoint is written.

    A job that runs on the host instead of the card (``batch_seconds`` > 0; 0 for a job on the card: its
    micro-batches' activations are host memory; the coefficients were measured as host RSS) adds its per-batch memory (``ANALYSIS_MEMORY``), and
    sharpness adds Lanczos' basis of ``iterations`` float32 vectors and its float64 working vectors."""
    copies = params * (BYTES_PER_PARAM if job == "train" else 4) / 2**20
    activations = 0.0
    if batch_seconds > 0:
        activations = evaluation_peak_mb(batch_seconds, job, params=params, width=width) - gpu_fixed_mb(
            params
        )
    lanczos = params * (4 * iterations + 8 * LANCZOS_FLOAT64_VECTORS) / 2**20 if job == "sharpness" else 0.0
    return CPU_FIXED_MB + CUDA_HOST_MB + PIPELINE_MB + copies + activations + lanczos


def analysis_hours(
    macs: dict[str, float], card: Card, landscape: dict, attribution: dict
) -> dict[str, float]:
    """GPU hours (FLOPs only, float32: the analyses set no mixed policy) of one epoch's loss grid (grid^2 points x
    subset utterances, forward) and integrated gradients (steps x utterances, forward + backward)."""
    grid = landscape["grid"] ** 2 * landscape["subset"] * EVAL_UTTERANCE_S * loss_flops_per_second(macs)
    ig = attribution["steps"] * attribution["utterances"] * EVAL_UTTERANCE_S * 3 * loss_flops_per_second(macs)
    return {"loss_grid_h": hours(grid, card, "float32"), "integrated_gradients_h": hours(ig, card, "float32")}


def plan(config: dict, profiles: dict[str, dict]) -> list[dict]:
    """One row per variant of ``config`` and card of ``profiles`` ({card: the profile's ``config:`` block}):
    GFLOP per audio second, epoch hours, GPU-days of all epochs, analysis hours per epoch. Builds each variant to
    count its multiply-adds (imports TensorFlow)."""
    vocab = int(config["vocabulary"]["size"])
    rows = []
    for variant in config["variants"]:
        model = build_model(variant_model_config(config, variant), vocab)
        macs = forward_macs_per_second(model.summary_table(), vocab)
        for name, settings in profiles.items():
            training = settings["training"]
            precision = "mixed" if training.get("mixed_precision") else "float32"
            epoch = epoch_hours(macs, CARDS[name], precision, int(training["joint_chunk"]))
            rows.append(
                {
                    "variant": variant,
                    "card": name,
                    "params": int(model.count_params()),
                    "train_gflop_per_audio_s": training_flops_per_second(macs) / 1e9,
                    "loss_gflop_per_audio_s": loss_flops_per_second(macs) / 1e9,
                    "epoch_h": epoch,
                    "training_gpu_days": epoch * int(config["training"]["epochs"]) / 24,
                    **analysis_hours(macs, CARDS[name], config["landscape"], config["attribution"]),
                }
            )
    return rows


def main() -> None:
    """``python -m lowrank_asr.planning``: the tables of docs/performance.md for config/librispeech.yaml and the GPU profiles."""
    root = Path(__file__).resolve().parents[2]
    config = with_defaults(load_yaml(root / "config" / "librispeech.yaml"))
    profiles = {
        name: yaml.safe_load((root / "profiles" / name / "config.v8+.yaml").read_text())["config"]
        for name in CARDS
    }
    rows = plan(config, profiles)
    epochs = config["training"]["epochs"]
    print(
        "| variant | params | train GFLOP / audio s | "
        + " | ".join(f"{n}: epoch h ({epochs} epochs, GPU-days)" for n in CARDS)
        + " |"
    )
    print("|---|---|---|" + "---|" * len(CARDS))
    for variant in config["variants"]:
        mine = {r["card"]: r for r in rows if r["variant"] == variant}
        first = next(iter(mine.values()))
        print(
            f"| {variant} | {first['params'] / 1e6:.1f} M | {first['train_gflop_per_audio_s']:.2f} | "
            + " | ".join(f"{mine[n]['epoch_h']:.2f} ({mine[n]['training_gpu_days']:.1f})" for n in CARDS)
            + " |"
        )
    print()
    print(
        "| variant | loss GFLOP / audio s | "
        + " | ".join(f"{n}: loss grid / IG per epoch, min" for n in CARDS)
        + " |"
    )
    print("|---|---|" + "---|" * len(CARDS))
    for variant in config["variants"]:
        mine = {r["card"]: r for r in rows if r["variant"] == variant}
        first = next(iter(mine.values()))
        print(
            f"| {variant} | {first['loss_gflop_per_audio_s']:.2f} | "
            + " | ".join(
                f"{mine[n]['loss_grid_h'] * 60:.1f} / {mine[n]['integrated_gradients_h'] * 60:.2f}"
                for n in CARDS
            )
            + " |"
        )


if __name__ == "__main__":
    main()
