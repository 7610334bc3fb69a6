"""Helpers the Snakefile uses at DAG build (no Snakemake imports here)."""
