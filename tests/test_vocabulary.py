"""Character and SentencePiece vocabularies: layout, round trips, file format, determinism, errors."""

import json

import pytest

from lowrank_asr.errors import ConfigError, PipelineError
from lowrank_asr.text import normalize
from lowrank_asr.text.vocabulary import (
    CharVocabulary,
    SentencePieceVocabulary,
    Vocabulary,
    build_char_vocabulary,
    load_vocabulary,
    train_sentencepiece,
)

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "wizards",
    "box",
    "jolly",
    "quiet",
    "kings",
    "it's",
    "a",
    "long",
    "way",
    "to",
    "the",
    "river",
    "and",
    "they're",
    "not",
    "coming",
    "back",
    "tonight",
]
# A small but varied corpus: every letter of the alphabet, apostrophes, repeated words.
TEXTS = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3 + i % 6)) for i in range(300)]


def test_char_vocabulary_layout_and_round_trip(tmp_path):
    vocab = build_char_vocabulary(["hello world", "it's ok", "zebra"])
    assert vocab.tokens[:3] == ["<blank>", " ", "'"]
    assert vocab.tokens[3:] == sorted(set("helloworlditsokzebra"))
    assert vocab.blank == 0 and vocab.size == len(vocab.tokens)
    assert isinstance(vocab, Vocabulary)
    for text in ["hello world", "it's ok", "zebra"]:
        ids = vocab.encode(text)
        assert 0 not in ids
        assert vocab.decode(ids) == text
    # decode skips blanks wherever they are
    ids = vocab.encode("ok")
    assert vocab.decode([0, ids[0], 0, 0, ids[1], 0]) == "ok"

    path = tmp_path / "vocab" / "vocab.json"
    vocab.save(path)
    assert json.loads(path.read_text()) == {"type": "char", "tokens": vocab.tokens}
    assert load_vocabulary(path) == vocab
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind


def test_char_vocabulary_always_has_space_and_apostrophe():
    vocab = build_char_vocabulary(["abc"])
    assert vocab.tokens == ["<blank>", " ", "'", "a", "b", "c"]


def test_char_vocabulary_unknown_character_names_it():
    vocab = build_char_vocabulary(["abc"])
    with pytest.raises(PipelineError, match=r"'x'.*'abx'"):
        vocab.encode("abx")
    with pytest.raises(PipelineError, match="out of range"):
        vocab.decode([1, 99])


def test_char_vocabulary_bad_inputs(tmp_path):
    with pytest.raises(PipelineError, match="no training transcripts"):
        build_char_vocabulary([])
    with pytest.raises(PipelineError, match="whitespace"):
        build_char_vocabulary(["a\tb"])
    with pytest.raises(PipelineError, match="<blank>"):
        CharVocabulary(["a", "b"])
    with pytest.raises(PipelineError, match="duplicate"):
        CharVocabulary(["<blank>", "a", "a"])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PipelineError, match="not valid JSON"):
        load_vocabulary(bad)
    bad.write_text(json.dumps({"type": "phoneme"}))
    with pytest.raises(PipelineError, match="'type' must be"):
        load_vocabulary(bad)
    with pytest.raises(PipelineError, match="does not exist"):
        load_vocabulary(tmp_path / "missing.json")


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_round_trip_and_blank(tmp_path, model_type):
    vocab = train_sentencepiece(TEXTS, 40, tmp_path / "spm", model_type=model_type)
    assert isinstance(vocab, SentencePieceVocabulary)
    assert isinstance(vocab, Vocabulary)
    assert vocab.size == 40 and vocab.blank == 0
    assert (tmp_path / "spm.model").is_file()
    for text in TEXTS[:50] + [normalize("The Jolly KING'S box!")]:
        ids = vocab.encode(text)
        assert ids and min(ids) >= 1 and max(ids) < vocab.size
        assert vocab.decode(ids) == text
        assert vocab.decode([0, *ids, 0]) == text  # blanks are skipped
    # SentencePiece's <unk> (our id 1) must not leak into decoded text
    ids = vocab.encode("the dog")
    assert vocab.decode([1, *ids, 1]) == "the dog"
    with pytest.raises(PipelineError, match="out of range"):
        vocab.decode([vocab.size])


def test_sentencepiece_save_load(tmp_path):
    vocab = train_sentencepiece(TEXTS, 30, tmp_path / "train" / "spm")
    out = tmp_path / "vocab" / "vocab.json"
    vocab.save(out)
    assert json.loads(out.read_text()) == {"type": "sentencepiece", "model": "spm.model"}
    assert (out.parent / "spm.model").read_bytes() == (tmp_path / "train" / "spm.model").read_bytes()
    loaded = load_vocabulary(out)
    assert loaded == vocab and loaded.size == 30
    assert loaded.encode(TEXTS[3]) == vocab.encode(TEXTS[3])
    (out.parent / "spm.model").unlink()
    with pytest.raises(PipelineError, match="spm.model does not exist"):
        load_vocabulary(out)


def test_sentencepiece_training_is_deterministic(tmp_path):
    train_sentencepiece(TEXTS, 50, tmp_path / "a")
    train_sentencepiece(TEXTS, 50, tmp_path / "b")
    assert (tmp_path / "a.model").read_bytes() == (tmp_path / "b.model").read_bytes()


def test_sentencepiece_unknown_character(tmp_path):
    vocab = train_sentencepiece(TEXTS, 40, tmp_path / "spm")
    with pytest.raises(PipelineError, match="'#'"):
        vocab.encode("the #dog")


def test_sentencepiece_size_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"too large.*maximum is \d+"):
        train_sentencepiece(TEXTS, 5000, tmp_path / "spm")
    with pytest.raises(ConfigError, match=r"too small.*minimum is \d+"):
        train_sentencepiece(TEXTS, 10, tmp_path / "spm")
    with pytest.raises(ConfigError, match="model_type"):
        train_sentencepiece(TEXTS, 40, tmp_path / "spm", model_type="word")
    with pytest.raises(PipelineError, match="no training transcripts"):
        train_sentencepiece(["", " "], 40, tmp_path / "spm")
    assert not (tmp_path / "spm.model").exists()


def test_sentencepiece_maximum_is_accepted(tmp_path):
    with pytest.raises(ConfigError) as err:
        train_sentencepiece(TEXTS, 5000, tmp_path / "spm")
    maximum = int(str(err.value).split("maximum is ")[1].split()[0])
    vocab = train_sentencepiece(TEXTS, maximum, tmp_path / "spm")
    assert vocab.size == maximum
    assert vocab.decode(vocab.encode(TEXTS[0])) == TEXTS[0]
