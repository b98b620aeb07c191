"""Calendar: tutorials, assessment deadlines, extensions, and the notices that go with them.

Pure modules (no I/O), tested exhaustively on their own (time parsing is ``bot.timeparse``,
shared by every feature): ``recurrence`` (DST-safe series), ``notices`` (what is owed when;
catch-up and quiet hours), ``messages`` (what a notice says) and ``ics`` (calendar files).
Services take a session:
``tutorials``, ``attendance`` (RSVP, check-in), ``deadlines``, ``extensions`` (the effective due
time, grants, requests), all re-exported by the facade ``service``, with ``inputs`` and
``lookups`` shared among them; ``personal`` (a person's view and settings) and ``planning``
(notice rows). ``engine`` delivers due notices exactly once: ``engine_claims`` claims them,
``engine_handover`` hands them to the outbox and records its outcomes, ``engine_state`` is shared.
"""

# Modules other features may import (tests/unit/test_layers.py); the rest is internal.
#: ``notices`` and ``planning``: quiet hours, which the early-warning digest
#: (bot/dashboard/digest.py) keeps too.
PUBLIC_MODULES: tuple[str, ...] = ("notices", "planning")
