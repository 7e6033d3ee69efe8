"""Alembic migrations of the crmpulse store."""
