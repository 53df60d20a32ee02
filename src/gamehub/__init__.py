"""Game Hub: an open-source backend for game platforms."""

__version__ = "0.1.0"
