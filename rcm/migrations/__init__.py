"""Alembic migrations (env.py, versions/). Run them through connectors.db or `rcm db`."""
