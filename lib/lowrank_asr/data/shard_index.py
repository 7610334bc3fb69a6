"""One small file standing for a split's TFRecord shards.

Per-epoch analyses (thousands of jobs with every epoch analysed) list this index as their data input instead
of every shard: Snakemake's DAG build costs about the same per input file of every job, and 64 shards × 3 000
jobs made it most of a dry run's time. The index is rewritten whenever the shards are, so a job listing it
reruns exactly when it would have with the shards themselves. No TensorFlow here: the index job starts fast.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from lowrank_asr.errors import CorpusError

INDEX_VERSION = 1


def write_shard_index(shards: Sequence[str | Path], out: str | Path) -> dict:
    """Write the index of ``shards`` (paths as given, in order, with their sizes in bytes) to ``out``."""
    missing = [str(s) for s in shards if not Path(s).is_file()]
    if missing:
        raise CorpusError(f"cannot index TFRecord shards that do not exist: {', '.join(missing)}")
    index = {
        "version": INDEX_VERSION,
        "shards": [{"path": str(s), "bytes": Path(s).stat().st_size} for s in shards],
    }
    Path(out).write_text(json.dumps(index, indent=1) + "\n")
    return index


def read_shard_index(path: str | Path) -> list[str]:
    """The shard paths an index lists, after checking that each still exists with the size it had."""
    try:
        index = json.loads(Path(path).read_text())
        entries = index["shards"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CorpusError(
            f"unreadable TFRecord shard index {path} ({err}); delete it and rerun to rebuild it"
        ) from err
    changed = [
        e["path"]
        for e in entries
        if not Path(e["path"]).is_file() or Path(e["path"]).stat().st_size != e["bytes"]
    ]
    if changed:
        raise CorpusError(
            f"TFRecord shards listed in {path} are missing or changed since it was written: {', '.join(changed)}; "
            f"rerun with `--forcerun tfrecords` to rebuild the split's shards and index"
        )
    return [e["path"] for e in entries]
