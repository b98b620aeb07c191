"""Calendar logic: tutorial recurrence, time input, notice planning and personal ICS feeds.

Everything here is pure (no I/O, no database, no chat platform) so the rules about time zones,
clock changes and "exactly when is this notice owed" can be tested exhaustively on their own;
the calendar service and the cogs only move data in and out.
"""
