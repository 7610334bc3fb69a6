"""One way to analyse a trained run: its model built once from the run's config and vocabulary, each analysed
epoch's weights loaded in turn (``run``), the fixed analysis subset (``data.subset``) closed into a loss whose
gradients and Hessian-vector products sum over micro-batches (``objective``, ``parts``)."""
