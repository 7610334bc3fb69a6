"""Integrated gradients (Sundararajan et al. 2017) over model inputs, and their HDF5 files.

integrated_gradients and asr (TensorFlow): the attributions of one input and of an ASR model's utterances;
baselines: the reference inputs; result and io (NumPy, h5py): the result, its per-frame summaries and files,
which the plot environment reads without TensorFlow. Import the modules themselves.
"""
