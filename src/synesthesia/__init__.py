"""Synesthesia: what text encoders and vision encoders share."""

__version__ = "0.1.0"
