"""Word and character error rates (jiwer), as fractions."""

from lowrank_asr.metrics.error_rates import ErrorRates, error_rates

__all__ = ["ErrorRates", "error_rates"]
