"""``python -m lowrank_asr.models summary --config CONFIG --variant NAME [--json]``.

CONFIG is a pipeline YAML with ``model:`` (defaults for all variants), ``variants: {name: {overrides}}``
(resolved by ``lowrank_asr.config.variant_model_config``, as the workflow does) and
``vocabulary: {type, size}``; the vocabulary size is ``vocabulary.size`` for sentencepiece and 29 (blank,
space, apostrophe, a–z) for char.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from lowrank_asr.config import variant_model_config
from lowrank_asr.config_files import load_yaml, with_defaults
from lowrank_asr.errors import PipelineError
from lowrank_asr.models.asr_model import build_model
from lowrank_asr.models.config import merge_model_config
from lowrank_asr.models.summary import format_table, trainable_params

CHAR_VOCAB_SIZE = 29


def vocab_size_from_config(config: dict) -> int:
    """The vocabulary size of a complete config (``lowrank_asr.config_files.with_defaults``)."""
    vocab = config["vocabulary"]
    if vocab["type"] == "sentencepiece":
        return int(vocab["size"])
    return CHAR_VOCAB_SIZE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lowrank_asr.models")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="per-block parameters and multiply-adds of a variant")
    p.add_argument("--config", required=True)
    p.add_argument("--variant", required=True)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        config = with_defaults(load_yaml(args.config))
        cfg = merge_model_config(variant_model_config(config, args.variant))
        vocab_size = vocab_size_from_config(config)
    except (OSError, PipelineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    model = build_model(cfg, vocab_size)
    rows = model.summary_table()
    total = int(model.count_params())
    trainable = trainable_params(model)
    macs = sum(r["macs"] for r in rows if r.get("macs_unit") != "per token")
    if args.json:
        print(
            json.dumps(
                {
                    "variant": args.variant,
                    "vocab_size": vocab_size,
                    "total_params": total,
                    "trainable_params": trainable,
                    "macs_per_second": macs,
                    "blocks": rows,
                    "model": cfg,
                }
            )
        )
    else:
        print(f"variant {args.variant}: vocab {vocab_size}, {total:,} parameters ({trainable:,} trainable)")
        print(format_table(rows, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
