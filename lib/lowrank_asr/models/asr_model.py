"""ASRModel: front end + ContextNet encoder + RNN-T (prediction + joint) or CTC head.

``build_model(model_cfg, vocab_size)`` merges ``model_cfg`` over ``DEFAULT_MODEL`` and returns a model whose
weights all exist (a dummy batch ran through every part), so weights can be loaded right away. Seed the
initialisers with ``keras.utils.set_random_seed`` before calling it for a deterministic model.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lowrank_asr import losses
from lowrank_asr.features.logmel import (
    apply_normalization,
    frame_params,
    log_mel,
    normalization_stats,
    num_frames,
)
from lowrank_asr.features.specaugment import SpecAugment
from lowrank_asr.models.config import expand_blocks, merge_model_config
from lowrank_asr.models.contextnet import ContextNetEncoder, WaveFrontend
from lowrank_asr.models.convolutions import out_length
from lowrank_asr.models.decoder import JointNetwork, PredictionNetwork
from lowrank_asr.models.summary import summary_table


class ASRModel(keras.Model):
    """The speech recogniser; see the package contract for the methods' shapes."""

    def __init__(self, cfg: dict, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        self.cfg = merge_model_config(cfg)
        self.vocab_size = int(vocab_size)
        c = self.cfg
        self.specs = expand_blocks(c["blocks"], c["alpha"])
        self.wave = (
            WaveFrontend(**c["wave_frontend"], name="wave_frontend") if c["frontend"] == "wave" else None
        )
        sa = c["specaugment"]
        self.specaugment = SpecAugment(
            sa["freq_masks"],
            sa["freq_width"],
            sa["time_masks"],
            sa["time_ratio"],
            enabled=sa["enabled"],
            name="specaugment",
        )
        self.encoder = ContextNetEncoder(
            self.specs, c["conv"], c["kernel_size"], c["rank"], c["se"], c["dropout"], name="encoder"
        )
        if c["decoder"] == "rnnt":
            self.prediction = PredictionNetwork(
                self.vocab_size, c["embed_dim"], c["pred_units"], c["pred_layers"], name="prediction"
            )
            self.joint_net = JointNetwork(self.vocab_size, c["joint_units"], name="joint")
        else:
            self.ctc_head = keras.layers.Dense(self.vocab_size, name="ctc_head")

    @property
    def decoder_type(self) -> str:
        """``rnnt`` or ``ctc``: which search and which loss the model's outputs need."""
        return self.cfg["decoder"]

    # ----------------------------------------------------------------------------------------- front end
    @property
    def feature_dim(self) -> int:
        return (
            self.cfg["wave_frontend"]["filters"]
            if self.wave is not None
            else self.cfg["features"]["num_mel_bins"]
        )

    @property
    def time_reduction(self) -> int:
        return int(np.prod([s.stride for s in self.specs]))

    def encoder_frames(self, num_samples) -> np.ndarray:
        """Encoder frame counts (int) of utterances of `num_samples` samples: what ``encode`` returns as lengths."""
        n = tf.constant(np.asarray(num_samples, np.int64).astype(np.int32))
        if self.wave is not None:
            frames = num_frames(n, self.wave.kernel_size, self.wave.stride)
        else:
            f = self.cfg["features"]
            win, hop, _ = frame_params(f["sample_rate"], f["frame_ms"], f["hop_ms"])
            frames = num_frames(n, win, hop)
        for spec in self.specs:
            frames = out_length(frames, spec.stride)
        return frames.numpy()

    @property
    def normalizes(self) -> bool:
        """Whether the front end normalises its raw features per utterance (always for the wave front end)."""
        return self.wave is not None or bool(self.cfg["features"]["normalize"])

    def raw_features(self, audio, audio_len):
        """The front end's features before normalisation and their frame counts: the log-mel spectrogram
        [B, T, F] (padding 0), or the wave front end's log energies [B, T, filters]."""
        audio = tf.convert_to_tensor(audio, tf.float32)
        audio_len = tf.cast(audio_len, tf.int32)
        if self.wave is not None:
            return self.wave.log_energies(audio, audio_len)
        return log_mel(audio, audio_len, **{**self.cfg["features"], "normalize": False})

    def feature_stats(self, raw, raw_len):
        """Per-utterance ``(mean, scale)`` [B, 1, F] the front end normalises ``raw`` with (None: it does not)."""
        return normalization_stats(raw, raw_len) if self.normalizes else None

    def normalize_features(self, raw, raw_len, stats=None):
        """``raw`` as the encoder sees it: normalised with ``stats`` (default: ``raw``'s own), padding 0."""
        if not self.normalizes:
            return raw
        return apply_normalization(
            raw, raw_len, normalization_stats(raw, raw_len) if stats is None else stats
        )

    def featurize(self, audio, audio_len):
        """The model's input: logmel: (normalised features [B, T, F], frame counts); wave: the waveform [B, S]
        and sample counts (its front end is a layer, featurised inside :meth:`encode`)."""
        if self.wave is not None:
            return tf.convert_to_tensor(audio, tf.float32), tf.cast(audio_len, tf.int32)
        raw, raw_len = self.raw_features(audio, audio_len)
        return self.normalize_features(raw, raw_len), raw_len

    # ------------------------------------------------------------------------------------------- encoder
    def encode(self, x, x_len, training=False, frontend_stats=None):
        """Features (or waveform) → (enc [B, T', D], enc_len [B]); SpecAugment iff training.

        ``frontend_stats``: wave front end only, fixed normalisation ``(mean, scale)`` (see `WaveFrontend`).
        """
        x_len = tf.cast(x_len, tf.int32)
        if self.wave is not None:
            x, x_len = self.wave(x, x_len, stats=frontend_stats)
        x = self.specaugment(x, x_len, training=training)
        return self.encoder(x, x_len, training=training)

    # ------------------------------------------------------------------------------------------- decoders
    def pred_sequence(self, labels, label_len=None):
        """Blank-prefixed prediction network outputs [B, U+1, P] (RNN-T); ``pred_step`` is one step of it."""
        return self.prediction(labels, label_len)

    def joint(self, enc, pred):
        return self.joint_net(enc, pred)

    def pred_initial_state(self, batch_size):
        return self.prediction.initial_state(batch_size)

    def pred_step(self, prev_token, state):
        return self.prediction.step(prev_token, state)

    def joint_step(self, enc_t, pred):
        return self.joint_net.step(enc_t, pred)

    def ctc_logits(self, enc):
        return self.ctc_head(enc)

    def utterance_loss(
        self, x, x_len, labels, label_len, training=False, frontend_stats=None, *, joint_chunk: int | None
    ):
        """Per-utterance negative log-likelihood [B] (RNN-T or CTC) of featurised input x.

        ``joint_chunk`` (RNN-T only; None/0: off): run the joint and the loss over sub-batches of this many
        utterances, recomputed in the backward pass (``losses.chunked_rnnt_loss``): same result, bounded memory.
        """
        enc, enc_len = self.encode(x, x_len, training=training, frontend_stats=frontend_stats)
        labels = tf.cast(labels, tf.int32)
        label_len = tf.cast(label_len, tf.int32)
        if self.decoder_type == "rnnt":
            pred = self.pred_sequence(labels, label_len)
            if joint_chunk:
                return losses.chunked_rnnt_loss(
                    self.joint, enc, pred, labels, enc_len, label_len, joint_chunk
                )
            logits = self.joint(enc, pred)
            return losses.rnnt_loss(logits, labels, enc_len, label_len, blank=0)
        return losses.ctc_loss(self.ctc_logits(enc), labels, enc_len, label_len, blank=0)

    def call(self, inputs, training=False):
        """inputs: dict with audio, audio_len (and labels for RNN-T) → logits of the model's decoder."""
        x, x_len = self.featurize(inputs["audio"], inputs["audio_len"])
        enc, enc_len = self.encode(x, x_len, training=training)
        if self.decoder_type == "rnnt":
            labels = inputs.get("labels")
            if labels is None:
                labels = tf.zeros([tf.shape(enc)[0], 0], tf.int32)
            return self.joint(enc, self.pred_sequence(labels)), enc_len
        return self.ctc_logits(enc), enc_len

    # ------------------------------------------------------------------------------------------ building
    def build_all(self) -> ASRModel:
        """Create every weight by running a small dummy batch through all parts (inference mode)."""
        sr = self.cfg["features"]["sample_rate"]
        audio = tf.zeros([1, sr // 2])
        audio_len = tf.constant([sr // 2], tf.int32)
        x, x_len = self.featurize(audio, audio_len)
        enc, _ = self.encode(x, x_len, training=False)
        if self.decoder_type == "rnnt":
            pred = self.pred_sequence(tf.ones([1, 2], tf.int32), tf.constant([2]))
            self.joint(enc, pred)
            state = self.pred_initial_state(1)
            p, _ = self.pred_step(tf.zeros([1], tf.int32), state)
            self.joint_step(enc[:, 0], p)
        else:
            self.ctc_logits(enc)
        self.built = True
        return self

    def build(self, input_shape=None):
        if not self.built:
            self.build_all()

    def summary_table(self) -> list[dict]:
        return summary_table(self)


def build_model(model_cfg: dict | None, vocab_size: int) -> ASRModel:
    """A built ``ASRModel`` from ``model_cfg`` merged over ``DEFAULT_MODEL`` (unknown keys: ConfigError)."""
    return ASRModel(dict(model_cfg or {}), vocab_size, name="asr_model").build_all()
