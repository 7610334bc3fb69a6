"""Rule compression: greedy WER/CER of a variant's final epoch with its encoder's dense weights truncated to rank r."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.compression.sweep import compression_sweep
from lowrank_asr.compression.tables import write_compression_csv
from lowrank_asr.data.dataset import make_dataset
from lowrank_asr.trained_run.run import load_trained

p = snakemake.params
comp = p.compression
model, vocab = load_trained(p.model, snakemake.input.vocab[0], snakemake.input.weights)


def split_batches(files):
    return lambda: make_dataset(
        files,
        vocab,
        batch_size=p.batch_size,
        training=False,
        seed=0,
        batch_seconds=p.batch_seconds,
        max_duration=None,
    )


def calibration():
    return make_dataset(
        list(snakemake.input.train),
        vocab,
        batch_size=comp["calibration_batch_size"],
        training=True,
        seed=p.seed,
        max_duration=None,
        batch_seconds=None,
    )


rows = compression_sweep(
    model,
    vocab,
    comp["fractions"],
    {s: split_batches(f) for s, f in p.split_files.items()},
    calibration,
    calibration_batches=comp["calibration_batches"],
    max_symbols_per_step=p.max_symbols,
)
write_compression_csv(rows, snakemake.wildcards.run, snakemake.output[0])
for row in rows:
    log.info(
        "fraction %.3f %s: %d params, greedy WER %.4f CER %.4f",
        row["fraction"],
        row["split"],
        row["params"],
        row["greedy_wer"],
        row["greedy_cer"],
    )
