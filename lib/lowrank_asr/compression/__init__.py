"""Post-hoc compression of a trained model: how much of it a low-rank approximation keeps.

truncation: rank-r truncated SVDs of the encoder's dense/pointwise weights and their parameter counts;
sweep: WER/CER against parameter count over rank fractions (BN re-estimation: training/precise_bn.py), and the
per-run and joint CSV files it writes. Import the modules themselves: the table and plot rules run in the plot
environment, without TensorFlow, and sweep.py's CSV readers and writers import none.
"""
