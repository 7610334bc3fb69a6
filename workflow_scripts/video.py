"""Rules landscape_video, attribution_video, compare_landscape_video: one frame per epoch, H.264."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.video.writer import side_by_side, write_video

frames = list(snakemake.input)
variants = snakemake.params.get("variants")
if variants:  # the inputs hold each variant's frames in turn
    per_variant = len(frames) // len(variants)
    columns = [frames[i * per_variant : (i + 1) * per_variant] for i in range(len(variants))]
    side_by_side(columns, snakemake.output[0], fps=snakemake.params.fps, labels=list(variants))
else:
    write_video(frames, snakemake.output[0], fps=snakemake.params.fps)
log.info("wrote %s from %d frames", snakemake.output[0], len(frames))
