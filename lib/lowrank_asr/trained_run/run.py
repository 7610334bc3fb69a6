"""A trained run: its model config, vocabulary and weights by epoch; the model is built once and every analysed
epoch's weights are loaded into the same variables (traced functions that read them stay valid)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lowrank_asr.errors import PipelineError
from lowrank_asr.models import build_model
from lowrank_asr.models.weights import load_weights
from lowrank_asr.text.vocabulary import load_vocabulary


@dataclass
class TrainedRun:
    """``model_cfg`` (the run's model section) and ``vocab_path``; :attr:`vocab` is read once, :attr:`model` is
    built on the first :meth:`load` and reused by every later one."""

    model_cfg: dict
    vocab_path: str | Path
    _vocab: object = field(default=None, init=False, repr=False)
    _model: object = field(default=None, init=False, repr=False)

    @property
    def vocab(self):
        if self._vocab is None:
            self._vocab = load_vocabulary(self.vocab_path)
        return self._vocab

    @property
    def model(self):
        """The run's model (built on first use, with freshly initialised weights until :meth:`load`)."""
        if self._model is None:
            self._model = build_model(self.model_cfg, self.vocab.size)
        return self._model

    def load(self, weights_path: str | Path):
        """The model with ``weights_path`` (one epoch's weights) loaded into it."""
        load_weights(self.model, weights_path)
        return self.model

    def epochs(self, weights_paths: Sequence[str | Path]) -> Iterator[tuple[str | Path, object]]:
        """``(weights path, model)`` for each analysed epoch in the given order, the epoch's weights loaded into
        the one model (so use each before taking the next). An empty list fails here, before anything loads."""
        if not weights_paths:
            raise PipelineError("TrainedRun.epochs: no weights files given; pass one per analysed epoch")
        return ((path, self.load(path)) for path in list(weights_paths))


def load_trained(model_cfg: dict, vocab_path: str | Path, weights_path: str | Path):
    """(model, vocabulary) of a run with one epoch's weights loaded."""
    run = TrainedRun(model_cfg, vocab_path)
    return run.load(weights_path), run.vocab
