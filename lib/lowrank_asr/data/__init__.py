"""The input pipeline over a prepared corpus: TFRecord shards and their index, the tf.data pipeline, duration
budgets and micro-batches, the fixed analysis subset, utterances too short for their transcripts. Getting the
corpus itself (download, extraction, synthesis, transcripts) is ``lowrank_asr.corpus``.
"""
