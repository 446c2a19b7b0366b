"""Alembic migrations of the Corridors store (run by ``Database.migrate``)."""
