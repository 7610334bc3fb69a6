"""The broad training lexicon: English words by frequency, from the ``wordfreq`` package's data (pinned, so the
list is fixed), kept only where eSpeak NG speaks them distinctly.

A character model that is to read unseen speech needs to hear thousands of words in the shapes English text
has; the basic list's 231 words teach it to spot those words. Sentences draw words with probability
proportional to frequency^``TEMPERATURE``: common function words come often, as in text, yet the long tail is
heard too. Homophones (same eSpeak NG en-us phonemes) keep one spelling: the basic list's if it has one (the
test splits speak it), else the more frequent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import numpy as np
import wordfreq

from lowrank_asr.corpus.wordlist import WORDS

TOP_WORDS = 8000  # wordfreq's most frequent English entries considered; part of the corpus definition
TEMPERATURE = 0.7  # sampling weight = frequency ** TEMPERATURE
_PLAIN = re.compile(r"[a-z]+")


@functools.lru_cache(maxsize=1)
def broad_lexicon(phonemes: Callable[[str, str], str]) -> tuple[tuple[str, ...], np.ndarray]:
    """(words, sampling probabilities): the basic list plus wordfreq's frequent plain words, homophones dropped;
    ``phonemes(text, voice)`` is eSpeak NG's transcription (``synthesis.espeak_phonemes``)."""
    candidates = [w for w in wordfreq.top_n_list("en", TOP_WORDS) if _PLAIN.fullmatch(w)]
    candidates = [w for w in candidates if len(w) > 1 or w in ("a", "i")]
    ordered = list(WORDS) + [w for w in candidates if w not in set(WORDS)]  # basic words win a homophone
    kept: dict[str, str] = {}
    for word in ordered:
        kept.setdefault(phonemes(word, "en-us"), word)
    words = tuple(sorted(kept.values(), key=lambda w: (-wordfreq.word_frequency(w, "en"), w)))
    weights = np.array([wordfreq.word_frequency(w, "en") for w in words]) ** TEMPERATURE
    return words, weights / weights.sum()
