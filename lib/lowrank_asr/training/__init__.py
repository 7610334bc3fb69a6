"""Training loop, learning-rate schedule and resume state."""

from lowrank_asr.training.loop import TrainSettings, run_training

__all__ = ["TrainSettings", "run_training"]
