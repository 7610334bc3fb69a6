"""How training moves through the loss landscape: the optimiser's path on its PCA plane, 1-D interpolations
and sharpness (Hessian top eigenvalue and trace) per epoch. io.py (h5py) holds the files, which the plot environment
reads without TensorFlow; the other modules evaluate a model."""
