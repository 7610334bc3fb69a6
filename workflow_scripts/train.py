"""Rule train: one model variant, one weights file per epoch, resumable after a kill."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from pathlib import Path

from lowrank_asr.training.loop import TrainSettings, run_training

p = snakemake.params
run_training(
    model_cfg=p.model,
    vocab_path=snakemake.input.vocab[0],
    train_files=list(snakemake.input.train),
    dev_files=list(snakemake.input.dev),
    settings=TrainSettings.from_config(p.training, seed=p.seed, max_duration=p.max_duration),
    state_dir=p.state_dir,
    epoch_outputs=list(snakemake.output.weights),
    init_output=snakemake.output.init,
    history_output=snakemake.output.history,
    tensorboard_dir=p.tensorboard,
    # one lock per variant (results/.train_state/<variant>/): a trainer with another config would publish into the
    # same outputs
    lock_dir=Path(p.state_dir).parent,
)
