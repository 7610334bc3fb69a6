"""Throughput of the data stages ``transcripts`` and ``tfrecords`` in audio hours per CPU-minute (issue 11, item 7).

A LibriSpeech-shaped synthetic split (eSpeak NG through ``lowrank_asr.corpus.synthesis``, 16-kHz FLAC, utterances of
~3-17 s, mean ~10 s; the words per utterance set the length) is synthesised and extracted once, then each
stage's library function runs as the rule's script calls it:

* ``transcripts``: ``write_transcripts`` (decodes every FLAC once to check it), once with one worker thread (the
  CPU cost per audio hour) and once with the default thread pool (what one job gets);
* ``tfrecords``: ``write_tfrecords`` into 64 shards (config/librispeech.yaml's ``data.shards``).

CPU time is the process's user + system time (threads included), which other processes on a shared machine do
not inflate the way they do wall time. Run:  nice python tests/benchmarks/bench_data.py [--utterances 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lib"))

SPLIT = "train-clean-100"
# eSpeak at 140 words/min: 8-40 words are ~3.5-17 s of speech (LibriSpeech: 1-35 s, mean 12.3 s, most 14-16 s)
SPEC = {"speakers": 8, "min_words": 8, "max_words": 40, "rate": [130, 150], "pitch": [30, 70], "snr_db": 35}
SHARDS = 64


def _timed(fn: Callable[[], dict]) -> dict:
    cpu0, wall0 = os.times(), time.perf_counter()
    out = fn()
    cpu1 = os.times()
    return {
        "wall_s": time.perf_counter() - wall0,
        "cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
        "stats": out,
    }


def build_split(root: Path, utterances: int, seed: int = 1234) -> tuple[Path, dict]:
    """Synthesise and extract one split; returns its folder and the synthesis stats."""
    from lowrank_asr.corpus.extract import extract_split
    from lowrank_asr.corpus.synthesis import SplitSpec, synthesize_split_tarball

    tarball = root / "downloads" / f"{SPLIT}.tar.gz"
    stats = synthesize_split_tarball(
        tarball, SPLIT, SplitSpec.from_dict({**SPEC, "utterances": utterances}), seed
    )
    extract_split(tarball, SPLIT, root / "corpus")
    return root / "corpus" / "LibriSpeech" / SPLIT, stats


def run(utterances: int = 300, tmp: Path | None = None) -> dict:
    """Build the split (unless ``tmp`` already holds it) and time the two stages."""
    from lowrank_asr.corpus.transcripts import read_transcripts, write_transcripts
    from lowrank_asr.data.tfrecords import shard_paths, write_tfrecords

    with tempfile.TemporaryDirectory(prefix="bench-data-") as scratch:
        root = Path(tmp or scratch)
        split_dir = root / "corpus" / "LibriSpeech" / SPLIT
        began = time.perf_counter()
        synth = build_split(root, utterances)[1] if not split_dir.is_dir() else {"reused": True}
        synth.pop("path", None)  # a temporary folder
        synth["build_s"] = time.perf_counter() - began
        tsv = root / "transcripts" / f"{SPLIT}.tsv"
        one = _timed(lambda: write_transcripts(split_dir, tsv, num_workers=1, on_bad_audio="fail"))
        pool = _timed(lambda: write_transcripts(split_dir, tsv, on_bad_audio="fail"))
        records = _timed(lambda: write_tfrecords(tsv, shard_paths(root / "tfrecords" / SPLIT, SHARDS)))
        durations = [r.duration for r in read_transcripts(tsv)]
        flac_bytes = sum(p.stat().st_size for p in split_dir.glob("*/*/*.flac"))
    hours = sum(durations) / 3600
    result = {
        "corpus": {
            **synth,
            "utterances": len(durations),
            "hours": hours,
            "mean_s": sum(durations) / len(durations),
            "min_s": min(durations),
            "max_s": max(durations),
            "flac_mb": flac_bytes / 2**20,
            "flac_kbit_per_s": flac_bytes * 8 / 1000 / sum(durations),
        },
        "cpus_usable": len(os.sched_getaffinity(0)),
    }
    for name, timing in (("transcripts_1_thread", one), ("transcripts_pool", pool), ("tfrecords", records)):
        result[name] = {
            **timing,
            "hours_per_cpu_min": hours / (timing["cpu_s"] / 60),
            "hours_per_wall_min": hours / (timing["wall_s"] / 60),
        }
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=300)
    parser.add_argument("--tmp", type=Path, help="keep (or reuse) the synthetic split here")
    parser.add_argument("--out", type=Path, help="write the result here (JSON)")
    args = parser.parse_args(argv)
    result = run(args.utterances, args.tmp)
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
