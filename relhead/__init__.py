"""relhead: synthetic paired head renders with exact ground truth for relative head pose."""

__version__ = "0.2.0"
