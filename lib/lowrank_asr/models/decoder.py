"""RNN-T prediction and joint networks, and the CTC head.

Prediction network (paper: one LSTM layer of 640 units): embedding(V, embed_dim) of the blank-prefixed
labels → ``pred_layers`` LSTM(pred_units) → layer norm. Blank (id 0) is the start symbol.
Joint network: tanh(W_e enc + W_p pred + b) → dense to V (unnormalised logits); the projections are applied
before the broadcast so the [B, T, U+1, J] tensor is formed only once.
CTC head: dense D → V.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lowrank_asr.models.contextnet import Composite


class PredictionNetwork(Composite):
    """Embedding + stacked LSTM + layer norm, full-sequence and step-wise."""

    def __init__(self, vocab_size: int, embed_dim: int, units: int, num_layers: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.units, self.num_layers = units, num_layers
        self.embedding = keras.layers.Embedding(vocab_size, embed_dim, name="embedding")
        self.lstms = [
            keras.layers.LSTM(units, return_sequences=True, return_state=True, name=f"lstm{i}")
            for i in range(num_layers)
        ]
        self.norm = keras.layers.LayerNormalization(name="norm")

    def call(self, labels, label_len=None):
        """labels [B, U] → pred [B, U+1, P] for the blank-prefixed sequence (causal: padding can't leak)."""
        labels = tf.cast(labels, tf.int32)
        y = self.embedding(tf.pad(labels, [[0, 0], [1, 0]]))
        for lstm in self.lstms:
            y = lstm(y)[0]
        return self.norm(y)

    def initial_state(self, batch_size) -> list[tf.Tensor]:
        zeros = tf.zeros([batch_size, self.units])
        return [zeros for _ in range(2 * self.num_layers)]

    def step(self, prev_token, state):
        """One step: prev_token [B] int32 and state (h, c per layer) → (pred [B, P], new state)."""
        y = self.embedding(tf.cast(prev_token, tf.int32))
        new_state = []
        for i, lstm in enumerate(self.lstms):
            y, (h, c) = lstm.cell(y, [state[2 * i], state[2 * i + 1]])
            new_state += [h, c]
        return self.norm(y), new_state


class JointNetwork(Composite):
    """logits = dense_V(tanh(dense_J(enc) + dense_J(pred)))."""

    def __init__(self, vocab_size: int, units: int, **kwargs):
        super().__init__(**kwargs)
        self.enc_proj = keras.layers.Dense(units, name="enc_proj")
        self.pred_proj = keras.layers.Dense(units, use_bias=False, name="pred_proj")
        self.out = keras.layers.Dense(vocab_size, name="out")

    def call(self, enc, pred):
        """enc [B, T, D] or [B, T, 1, D]; pred [B, U+1, P] or [B, 1, U+1, P] → [B, T, U+1, V]."""
        e = self.enc_proj(enc)
        p = self.pred_proj(pred)
        if len(e.shape) == 3:
            e = e[:, :, None, :]
        if len(p.shape) == 3:
            p = p[:, None, :, :]
        return self.out(tf.tanh(e + p))

    def step(self, enc_t, pred):
        """enc_t [B, D], pred [B, P] → logits [B, V]."""
        return self.out(tf.tanh(self.enc_proj(enc_t) + self.pred_proj(pred)))
