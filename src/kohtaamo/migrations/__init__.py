"""Alembic migrations (`kohtaamo migrate`). env.py gathers every domain's models."""
