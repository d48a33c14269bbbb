"""Echoes: Echo State Networks vs LSTMs on frozen per-frame CNN features of action videos."""

__version__ = "0.1.0"
