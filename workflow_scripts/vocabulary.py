"""Rule vocabulary: characters (blank at 0) or sentencepiece word-pieces from the training transcripts."""

from pathlib import Path

from lowrank_asr.workflow.runtime import start_from_snakemake

log = start_from_snakemake(snakemake)

from lowrank_asr.corpus.transcripts import read_transcripts
from lowrank_asr.text.vocabulary import build_char_vocabulary, train_sentencepiece

settings = snakemake.params.vocabulary
texts = [row.transcript for tsv in snakemake.input for row in read_transcripts(tsv)]
vocab_json = Path(snakemake.output[0])
if settings["type"] == "char":
    vocab = build_char_vocabulary(texts)
else:
    vocab = train_sentencepiece(texts, settings["size"], vocab_json.parent / "spm")
vocab.save(vocab_json)
log.info("vocabulary: %s with %d tokens", settings["type"], vocab.size)
