"""How training moves through the loss landscape: the optimiser's path on its PCA plane, 1-D interpolations
and sharpness (Hessian top eigenvalue and trace) per epoch. TensorFlow is imported only where a model is used."""
