"""Errors that name the offending input and say what to do about it."""


class PipelineError(ValueError):
    """Bad input or configuration; the message names the thing and the remedy."""


class ConfigError(PipelineError):
    """A configuration key or value is wrong."""


class CorpusError(PipelineError):
    """A tarball, corpus folder, audio file or transcript is missing or malformed."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); earlier epochs stay on disk."""
