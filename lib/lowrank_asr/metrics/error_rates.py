"""WER/CER over a corpus: total edits ÷ total reference words (characters), as jiwer computes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import jiwer


@dataclass(frozen=True)
class ErrorRates:
    wer: float
    cer: float
    words: int
    chars: int

    def as_dict(self) -> dict:
        return asdict(self)


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> ErrorRates:
    """Corpus-level WER and CER; an empty hypothesis counts as all deletions."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("no utterances to score")
    empty = [i for i, r in enumerate(references) if not r.strip()]
    if empty:
        raise ValueError(f"reference {empty[0]} is empty: WER is undefined for it; drop empty transcripts")
    refs, hyps = list(references), list(hypotheses)
    word_out = jiwer.process_words(refs, hyps)  # an empty hypothesis counts as all deletions
    char_out = jiwer.process_characters(refs, hyps)
    return ErrorRates(
        wer=float(word_out.wer),
        cer=float(char_out.cer),
        words=sum(len(r.split()) for r in refs),
        chars=sum(len(r) for r in refs),
    )
