"""Kohtaamo: a self-hosted customer-experience platform for online shops."""

__version__ = "0.1.0"
