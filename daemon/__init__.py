"""hushnote: session audio to a draft progress note, entirely on this computer."""

__version__ = "0.1.0"
