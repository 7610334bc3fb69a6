"""Post-hoc compression of a trained model: how much of it a low-rank approximation keeps.

truncation: rank-r truncated SVDs of the encoder's dense/pointwise weights and their parameter counts;
sweep: WER/CER against parameter count over rank fractions (BN re-estimation: training/precise_bn.py);
tables: the per-run and joint CSV files of the sweep, standard library only (the table and plot rules run in the
plot environment, without TensorFlow).
"""
