"""Shared pytest set-up: quiet TensorFlow, deterministic ops, the library on the path."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))


@dataclass(frozen=True)
class SpeechCorpus:
    """A tiny split of eSpeak NG speech as the pipeline stores it: TFRecord shards, transcripts and vocabulary."""

    shards: list[str]
    vocab_path: Path
    transcripts: list[str]


@pytest.fixture(scope="session")
def speech_corpus(tmp_path_factory: pytest.TempPathFactory) -> SpeechCorpus:
    """8 utterances of 2-3 words by 2 synthetic speakers (seeded), through synthesis → extract → TSV →
    TFRecords (2 shards) → char vocabulary, i.e. the data stages of the pipeline. Takes a few seconds."""
    from lowrank_asr.corpus.extract import extract_split
    from lowrank_asr.corpus.synthesis import SplitSpec, synthesize_split_tarball
    from lowrank_asr.corpus.transcripts import read_transcripts, write_transcripts
    from lowrank_asr.data.dataset import list_shards
    from lowrank_asr.data.tfrecords import shard_paths, write_tfrecords
    from lowrank_asr.text.vocabulary import build_char_vocabulary

    root = tmp_path_factory.mktemp("speech")
    spec = SplitSpec.from_dict(
        {
            "speakers": 2,
            "utterances": 8,
            "min_words": 2,
            "max_words": 3,
            "rate": [170.0, 190.0],
            "pitch": [40.0, 60.0],
            "snr_db": 40.0,
        }
    )
    tarball = root / "train-clean-100.tar.gz"
    synthesize_split_tarball(tarball, "train-clean-100", spec, seed=5, workers=1)
    split_dir = extract_split(tarball, "train-clean-100", root / "corpus")
    tsv = root / "train-clean-100.tsv"
    write_transcripts(split_dir, tsv, on_bad_audio="fail", skipped_json=root / "skipped.json")
    write_tfrecords(tsv, shard_paths(root / "tfrecords", 2))
    transcripts = [row.transcript for row in read_transcripts(tsv)]
    vocab_path = root / "vocab.json"
    build_char_vocabulary(transcripts).save(vocab_path)
    return SpeechCorpus(list_shards(root / "tfrecords"), vocab_path, transcripts)


def seeded_weight_files(model_cfg: dict, vocab_size: int, folder: Path, epochs=(1, 2)) -> list[Path]:
    """One weights file per "epoch" of the same architecture, each initialised from the epoch as seed (different
    initialisations stand in for the epochs of a run)."""
    import keras

    from lowrank_asr.models import build_model, save_weights

    paths = []
    for epoch in epochs:
        keras.utils.set_random_seed(epoch)
        path = folder / f"epoch_{epoch:03d}.weights.h5"
        save_weights(build_model(model_cfg, vocab_size), path)
        paths.append(path)
    return paths


def train_settings(*, seed: int, **overrides):
    """TrainSettings for a config that sets only ``overrides`` (training keys, and ``max_duration``,
    ``skip_bad_audio``, ``evaluation_batch_seconds``, ``skip_over_budget``): the rest is what the train job gets
    from the schema's defaults."""
    from lowrank_asr.config_files import schema_defaults, section_with_defaults
    from lowrank_asr.training.loop import TrainSettings

    defaults = schema_defaults()
    job = {
        "seed": seed,
        "max_duration": defaults["data.max_duration"],
        "skip_bad_audio": defaults["data.on_bad_audio"] == "skip",
    }
    extra = {"evaluation_batch_seconds": defaults["evaluation.batch_seconds"], "skip_over_budget": False}
    job.update({k: overrides.pop(k) for k in list(overrides) if k in job})
    extra.update({k: overrides.pop(k) for k in list(overrides) if k in extra})
    return TrainSettings.from_config({**section_with_defaults("training", overrides), **extra}, **job)
