"""hushnote: session audio to a draft progress note, entirely on this computer."""

from importlib.metadata import version

__version__ = version("hushnote")  # from pyproject.toml, the one place it is written
