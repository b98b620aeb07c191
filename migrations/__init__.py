"""Alembic migrations, shipped inside the package so `cohortbot migrate` works when installed."""
