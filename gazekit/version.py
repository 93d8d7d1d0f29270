"""The gazekit version written into every output (``gazekit.__version__`` re-exports it)."""

__version__ = "0.1.0"
