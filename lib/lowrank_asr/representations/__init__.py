"""How low-rank the learned filters and representations are, and how similar across variants and epochs.

kernels: every encoder conv's effective kernel W[k, c, o]; spectra: singular values, effective / stable rank,
activation covariance spectra; cka: streamed linear CKA; blocks: every block's output from one traced
function; analysis: a run's epochs through them (TensorFlow); io: the HDF5 files, which the plot environment
reads without TensorFlow. Post-hoc rank-r truncation of the weights is its own package, lowrank_asr.compression.
Import the modules themselves.
"""
