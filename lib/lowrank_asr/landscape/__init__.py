"""Loss landscapes around trained weights (Li et al. 2018).

directions (Keras): filter-normalised random directions of a model's weights; grid (NumPy): the plane's points,
shards and results; evaluate (TensorFlow): the loss at each point; io (h5py): the HDF5 files, which the plot
environment reads without TensorFlow; asr: a trained run's loss grid. Import the modules themselves.
"""
