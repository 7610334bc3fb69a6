"""Rule evaluate: greedy and beam-search decodes of one split by one variant, with WER, CER and RTF."""

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.corpus.packaged import SENTENCE_WORDS
from lowrank_asr.data.dataset import make_dataset, over_budget_utterances
from lowrank_asr.evaluation.transcribe import (
    score_decodes,
    score_sentences,
    transcribe,
    write_decodes,
    write_json,
)
from lowrank_asr.models.summary import trainable_params
from lowrank_asr.trained_run.run import load_trained

settings = snakemake.params.decoding
model, vocab = load_trained(snakemake.params.model, snakemake.input.vocab[0], snakemake.input.weights)
budget, skip = settings["batch_seconds"], settings["skip_over_budget"]
data = make_dataset(
    list(snakemake.input.data),
    vocab,
    batch_size=settings["batch_size"],
    training=False,
    seed=0,
    batch_seconds=budget,
    skip_over_budget=skip,
    max_duration=None,  # every utterance: data.max_duration filters the training set only
)
# utterances longer than evaluation.batch_seconds, left out under data.on_bad_audio: skip (the table counts them)
over_budget = (
    over_budget_utterances(snakemake.input.data, budget, max_duration=None)
    if budget is not None and skip
    else []
)
rows, timing = transcribe(
    model,
    data,
    vocab,
    beam_width=settings["beam_width"],
    max_symbols_per_step=settings["max_symbols_per_step"],
)
write_decodes(rows, snakemake.output.decodes)
scored = [{"GROUNDTRUTH": r.reference, "GREEDY": r.greedy, "BEAMSEARCH": r.beam} for r in rows]
scores = score_decodes(scored)
# the rates over utterances of SENTENCE_WORDS+ words ("sentences"; real-test is half single words)
scores["sentences"] = score_sentences(scored, SENTENCE_WORDS)
scores.update(
    variant=snakemake.wildcards.run,
    split=snakemake.wildcards.split,
    epochs=snakemake.params.epoch,
    params=trainable_params(model),
    params_all=int(model.count_params()),
    audio_seconds=timing.audio_seconds,
    rtf=timing.rtf,
    beam_rtf=timing.beam_rtf,
    beam_width=settings["beam_width"],
    over_budget=[{"utt_id": u.utt_id, "path": u.path, "duration": u.duration} for u in over_budget],
)
write_json(scores, snakemake.output.scores)
log.info("%s on %s: %s", snakemake.wildcards.run, snakemake.wildcards.split, scores)
