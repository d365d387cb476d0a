"""Sävy: a local, private "make it warmer" rewrite service."""

__version__ = "0.1.0"
