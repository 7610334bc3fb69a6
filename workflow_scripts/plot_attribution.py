"""Rule plot_attribution: spectrogram, attribution heat map and per-frame mass, per epoch of a variant.

All epochs share one colour scale per utterance (they are the frames of one video).
"""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.attribution.io import read_attributions
from lowrank_asr.plotting.attribution import frame_timing, plot_attribution, shared_scales

timing = frame_timing(snakemake.params.model)
epochs = [read_attributions(path) for path in snakemake.input]
scales = shared_scales((data["items"] for data in epochs), hop=timing["hop"])
for data, png in zip(epochs, snakemake.output, strict=True):
    attrs = data["attrs"]
    plot_attribution(
        data["items"],
        png,
        title=f"{attrs['variant']} · epoch {attrs['epoch']} · integrated gradients",
        scales=scales,
        shared_by=f"all {len(epochs)} epochs",
        **timing,
    )
for uid, scale in scales.items():
    log.info("%s: colour scale ±%.3g, frame axis ±%.3g", uid, scale.attribution, scale.frame)
