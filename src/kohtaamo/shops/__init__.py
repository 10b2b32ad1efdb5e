"""Workspaces (one per shop): settings, the public site key, secret API keys."""
