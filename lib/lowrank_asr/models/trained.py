"""Rebuild a trained variant from its config slice, vocabulary and an epoch's weights."""

from __future__ import annotations

from pathlib import Path


def load_trained(model_cfg: dict, vocab_path: str | Path, weights_path: str | Path):
    """(model, vocabulary) with the given epoch's weights loaded."""
    from lowrank_asr.models import build_model
    from lowrank_asr.models.weights import load_weights
    from lowrank_asr.text.vocabulary import load_vocabulary

    vocab = load_vocabulary(vocab_path)
    model = build_model(model_cfg, vocab.size)
    load_weights(model, weights_path)
    return model, vocab
