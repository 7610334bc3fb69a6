"""Rule train: one model variant, one weights file per epoch, resumable after a kill."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from pathlib import Path

from lowrank_asr.training.loop import TrainSettings, run_training

p = snakemake.params
# utterances too short for their transcripts: data.on_bad_audio, read from the config rather than params, so that
# toggling it retrains nothing where no utterance is too short (params.bad_audio keys the job where one is)
settings = TrainSettings.from_config(
    p.training,
    seed=p.seed,
    max_duration=p.max_duration,
    skip_bad_audio=snakemake.config["data"]["on_bad_audio"] == "skip",
)
run_training(
    model_cfg=p.model,
    vocab_path=snakemake.input.vocab[0],
    train_files=list(snakemake.input.train),
    dev_files=list(snakemake.input.dev),
    settings=settings,
    state_dir=p.state_dir,
    epoch_outputs=list(snakemake.output.weights),
    init_output=snakemake.output.init,
    history_output=snakemake.output.history,
    tensorboard_dir=p.tensorboard,
    # one lock per variant (results/.train_state/<variant>/): a trainer with another config would publish into the
    # same outputs
    lock_dir=Path(p.state_dir).parent,
)
