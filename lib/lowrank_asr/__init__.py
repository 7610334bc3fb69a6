"""lowrank-asr: ContextNet with low-rank filtering, loss landscapes and integrated gradients.

The library has no Snakemake imports; every function is usable from a notebook. Workflow scripts under
``workflow_scripts/`` only wire a rule's inputs to calls into this package.
"""

__version__ = "0.1.0"
