"""Token vocabularies: characters or SentencePiece pieces, with the blank/CTC/RNN-T token at id 0.

Both kinds share one protocol (``size``, ``blank``, ``encode``, ``decode``, ``save``) and one file format,
``vocab.json``::

    {"type": "char", "tokens": ["<blank>", " ", "'", "a", ...]}
    {"type": "sentencepiece", "model": "spm.model"}      # the .model file sits beside the json
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import sentencepiece as spm

from lowrank_asr.errors import ConfigError, PipelineError

log = logging.getLogger(__name__)

BLANK = "<blank>"
BLANK_ID = 0
# Space and apostrophe come right after the blank so that ids 1 and 2 mean the same in every char vocabulary.
_FIXED_CHARS = (" ", "'")


class VocabularyError(PipelineError):
    """Text cannot be encoded (or ids decoded) with this vocabulary, or a vocabulary file is malformed."""


@runtime_checkable
class Vocabulary(Protocol):
    """What models, losses and decoders need from a vocabulary. Id 0 is the blank and never a real token."""

    @property
    def size(self) -> int: ...

    @property
    def blank(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def save(self, path: str | os.PathLike) -> None: ...


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_json(path: Path, obj: object) -> None:
    _atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def _check_ids(ids: Sequence[int], size: int) -> list[int]:
    out = [int(i) for i in ids]
    bad = [i for i in out if not 0 <= i < size]
    if bad:
        raise VocabularyError(
            f"token id(s) {bad[:5]} out of range for a vocabulary of size {size}: "
            "the model's output size does not match the vocabulary (rebuild one of them)"
        )
    return out


class CharVocabulary:
    """One token per character; ``tokens[0]`` is ``<blank>``."""

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if not tokens or tokens[0] != BLANK:
            raise VocabularyError(f"a char vocabulary must start with {BLANK!r}, got {tokens[:1]}")
        chars = tokens[1:]
        bad = [t for t in chars if len(t) != 1]
        if bad:
            raise VocabularyError(f"char vocabulary tokens must be single characters, got {bad[:5]}")
        if len(set(chars)) != len(chars):
            dup = sorted({c for c in chars if chars.count(c) > 1})
            raise VocabularyError(f"char vocabulary has duplicate tokens {dup}")
        self._tokens = tokens
        self._index = {c: i for i, c in enumerate(tokens) if i != BLANK_ID}

    @property
    def tokens(self) -> list[str]:
        """All tokens, blank first (a copy)."""
        return list(self._tokens)

    @property
    def size(self) -> int:
        return len(self._tokens)

    @property
    def blank(self) -> int:
        return BLANK_ID

    def encode(self, text: str) -> list[int]:
        try:
            return [self._index[c] for c in text]
        except KeyError as e:
            raise VocabularyError(
                f"character {e.args[0]!r} in transcript {text!r} is not in the vocabulary "
                f"({''.join(self._tokens[1:])!r}); normalise the text with lowrank_asr.text.normalize or "
                "rebuild the vocabulary from transcripts that contain it"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self._tokens[i] for i in _check_ids(ids, self.size) if i != BLANK_ID)

    def save(self, path: str | os.PathLike) -> None:
        _atomic_write_json(Path(path), {"type": "char", "tokens": self._tokens})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocabulary) and other._tokens == self._tokens

    def __repr__(self) -> str:
        return f"CharVocabulary(size={self.size})"


class SentencePieceVocabulary:
    """SentencePiece pieces shifted by one: id 0 is the blank, id ``k + 1`` is SentencePiece's id ``k``.

    SentencePiece's own ``<unk>`` (its id 0, our id 1) is kept in the id space so that a model can emit it,
    but ``encode`` refuses text that needs it and ``decode`` drops it (and any control piece), so a decoded
    hypothesis only ever holds normalised text.
    """

    def __init__(self, model_proto: bytes, model_name: str = "spm.model"):
        self._proto = bytes(model_proto)
        self.model_name = model_name
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(self._proto)
        except Exception as e:  # sentencepiece raises RuntimeError/OSError with a terse message
            raise VocabularyError(f"{model_name}: not a valid SentencePiece model ({e}); retrain it") from e
        n = self._sp.get_piece_size()
        self._drop = {BLANK_ID} | {
            k + 1 for k in range(n) if self._sp.is_unknown(k) or self._sp.is_control(k)
        }

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> SentencePieceVocabulary:
        path = Path(path)
        if not path.is_file():
            raise VocabularyError(f"SentencePiece model {path} does not exist; rerun the vocabulary stage")
        return cls(path.read_bytes(), path.name)

    @property
    def model_proto(self) -> bytes:
        return self._proto

    @property
    def size(self) -> int:
        return self._sp.get_piece_size() + 1

    @property
    def blank(self) -> int:
        return BLANK_ID

    def encode(self, text: str) -> list[int]:
        ids = self._sp.encode(text, out_type=int)
        unk = self._sp.unk_id()
        if unk in ids:
            pieces = self._sp.encode(text, out_type=str)
            missing = sorted({c for c in text if c != " " and self._sp.piece_to_id(c) == unk})
            raise VocabularyError(
                f"transcript {text!r} needs SentencePiece's <unk> (characters {missing or pieces} were not in "
                "the training text); normalise the text or retrain the vocabulary on transcripts that contain them"
            )
        return [i + 1 for i in ids]

    def decode(self, ids: Sequence[int]) -> str:
        keep = [i - 1 for i in _check_ids(ids, self.size) if i not in self._drop]
        return self._sp.decode(keep)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``path`` (json) and the model file beside it (``self.model_name``)."""
        path = Path(path)
        model_path = path.parent / self.model_name
        if not (model_path.is_file() and model_path.read_bytes() == self._proto):
            _atomic_write_bytes(model_path, self._proto)
        _atomic_write_json(path, {"type": "sentencepiece", "model": self.model_name})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SentencePieceVocabulary) and other._proto == self._proto

    def __repr__(self) -> str:
        return f"SentencePieceVocabulary({self.model_name!r}, size={self.size})"


def build_char_vocabulary(texts: Iterable[str]) -> CharVocabulary:
    """Blank, space, apostrophe, then every other character of ``texts`` in sorted order."""
    chars: set[str] = set()
    n = 0
    for t in texts:
        chars.update(t)
        n += 1
    if n == 0 or not chars - set(_FIXED_CHARS):
        raise VocabularyError("no training transcripts (or only blanks) to build a char vocabulary from")
    bad = sorted(c for c in chars if c.isspace() and c != " ")
    if bad:
        raise VocabularyError(
            f"training transcripts contain whitespace characters {bad!r}; normalise them first "
            "(lowrank_asr.text.normalize)"
        )
    return CharVocabulary([BLANK, *_FIXED_CHARS, *sorted(chars - set(_FIXED_CHARS))])


_TOO_HIGH = re.compile(r"value <= (\d+)")
_TOO_LOW = re.compile(r"smaller than required_chars\. (\d+) vs (\d+)")


def train_sentencepiece(
    texts: Iterable[str],
    size: int,
    model_prefix: str | os.PathLike,
    *,
    model_type: Literal["unigram", "bpe"] = "unigram",
) -> SentencePieceVocabulary:
    """Train a SentencePiece model with ``size - 1`` pieces (``size`` counts the blank) to ``<prefix>.model``.

    Training is deterministic (one thread, no input sampling or shuffling): the same texts give the same
    model bytes. A ``size`` the corpus cannot support raises ConfigError naming the allowed range.
    """
    if model_type not in ("unigram", "bpe"):
        raise ConfigError(f"sentencepiece model_type must be 'unigram' or 'bpe', got {model_type!r}")
    if size < 3:
        raise ConfigError(f"vocabulary size {size} is too small (need at least blank, <unk> and one piece)")
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise VocabularyError("no training transcripts to train SentencePiece on")
    model_path = Path(f"{model_prefix}.model")
    buf = io.BytesIO()
    spm.set_random_generator_seed(1)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=buf,
            vocab_size=size - 1,  # id 0 is reserved for the blank; spm ids are shifted by one
            model_type=model_type,
            character_coverage=1.0,  # LibriSpeech's alphabet is tiny: keep every character
            normalization_rule_name="identity",  # text is already normalised; spm must not change it
            unk_id=0,
            bos_id=-1,
            eos_id=-1,
            pad_id=-1,
            # Determinism: use every sentence, in order, on one thread.
            input_sentence_size=100_000_000,
            shuffle_input_sentence=False,
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as e:
        msg = str(e)
        if m := _TOO_HIGH.search(msg):
            raise ConfigError(
                f"sentencepiece vocabulary size {size} is too large for these transcripts: the maximum is "
                f"{int(m.group(1)) + 1} (including the blank); lower the vocabulary size in the config"
            ) from None
        if m := _TOO_LOW.search(msg):
            raise ConfigError(
                f"sentencepiece vocabulary size {size} is too small for these transcripts: the minimum is "
                f"{int(m.group(2)) + 1} (including the blank); raise the vocabulary size in the config"
            ) from None
        raise VocabularyError(f"SentencePiece training failed: {msg}") from e
    _atomic_write_bytes(model_path, buf.getvalue())
    log.info("trained %s SentencePiece model %s with %d pieces", model_type, model_path, size - 1)
    return SentencePieceVocabulary(buf.getvalue(), model_path.name)


def load_vocabulary(path: str | os.PathLike) -> CharVocabulary | SentencePieceVocabulary:
    """Read a ``vocab.json`` written by ``.save`` (for SentencePiece, the model file beside it too)."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VocabularyError(f"vocabulary file {path} does not exist; run the vocabulary stage") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VocabularyError(
            f"vocabulary file {path} is not valid JSON ({e}); rerun the vocabulary stage"
        ) from e
    if not isinstance(spec, dict):
        raise VocabularyError(f"vocabulary file {path}: expected a JSON object, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind == "char":
        tokens = spec.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise VocabularyError(f"vocabulary file {path}: 'tokens' must be a list of strings")
        try:
            return CharVocabulary(tokens)
        except VocabularyError as e:
            raise VocabularyError(f"vocabulary file {path}: {e}") from None
    if kind == "sentencepiece":
        model = spec.get("model")
        if not isinstance(model, str) or not model or Path(model).name != model:
            raise VocabularyError(
                f"vocabulary file {path}: 'model' must be the file name of the .model beside it, got {model!r}"
            )
        return SentencePieceVocabulary.from_file(path.parent / model)
    raise VocabularyError(f"vocabulary file {path}: 'type' must be 'char' or 'sentencepiece', got {kind!r}")
