"""Integrated gradients of a trained ASR variant: the reference transcript's log-likelihood per input bin."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lowrank_asr.attribution.integrated_gradients import integrated_gradients, silence_baseline, zero_baseline
from lowrank_asr.attribution.io import AttributionItem


def epoch_attributions(*, model_cfg: dict, vocab_path: str | Path, weights_path: str | Path,
                       data_files: Sequence[str], utterances: int, steps: int, baseline: str = "zero",
                       batch_size: int = 16, max_symbols_per_step: int = 5) -> list[AttributionItem]:
    """Attributions of F(x) = log P(reference | x) (the negative RNN-T/CTC loss) for the first utterances.

    x is what `model.featurize` returns: log-mel bins [T, F], or waveform samples [S] for the wave front end.
    """
    import tensorflow as tf

    from lowrank_asr.data.subset import fixed_subset, utt_ids
    from lowrank_asr.evaluation.transcribe import make_encoder_fn, search
    from lowrank_asr.models.trained import load_trained

    model, vocab = load_trained(model_cfg, vocab_path, weights_path)
    batch = fixed_subset(data_files, vocab, utterances)
    ids = utt_ids(batch)
    references = [t.decode() for t in batch["transcript"].numpy().tolist()]
    encode = make_encoder_fn(model)
    enc, enc_len = encode(batch["audio"], batch["audio_len"])
    hypotheses = [vocab.decode(h) for h in search(model, enc, enc_len, beam_width=None,
                                                  max_symbols_per_step=max_symbols_per_step)]
    log_likelihood = None
    items = []
    for i in range(len(ids)):
        n = int(batch["audio_len"][i])
        audio = batch["audio"][i : i + 1, :n]
        x, x_len = model.featurize(audio, [n])
        x = x[0, : int(x_len[0])].numpy()
        labels = tf.cast(batch["labels"][i : i + 1, : int(batch["label_len"][i])], tf.int32)
        label_len = tf.cast(batch["label_len"][i : i + 1], tf.int32)
        x_len = tf.cast(x_len, tf.int32)
        if log_likelihood is None:
            # One trace (forward and backward) for every utterance: the signature leaves all sizes open.
            @tf.function(input_signature=[tf.TensorSpec([None] * (x.ndim + 1), tf.float32),
                                          tf.TensorSpec([1], tf.int32), tf.TensorSpec([1, None], tf.int32),
                                          tf.TensorSpec([1], tf.int32)])
            def log_likelihood(xs, x_len, labels, label_len):
                k = tf.shape(xs)[0]
                return -model.utterance_loss(xs, tf.repeat(x_len, k), tf.repeat(labels, k, axis=0),
                                             tf.repeat(label_len, k), training=False)

        def f(xs, x_len=x_len, labels=labels, label_len=label_len):
            return log_likelihood(xs, x_len, labels, label_len)

        if baseline == "silence":
            silence, _ = model.featurize(tf.zeros_like(audio), [n])
            base = silence_baseline(x, silence[0, : x.shape[0]].numpy())
        else:
            base = zero_baseline(x)
        result = integrated_gradients(f, x, base, steps=steps, batch_size=batch_size)
        items.append(AttributionItem.from_result(ids[i], x, base, result, references[i], hypotheses[i]))
    return items
