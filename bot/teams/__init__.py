"""Project teams across time zones: guaranteed shared hours, balanced survey answers, explained.

Pure modules (no I/O): ``availability`` (weekly free time in a student's zone -> UTC half-hour
slots that hold in every week of the term) and ``formation`` (the CP-SAT team solver, the hard
rules checker, the refusal that names who cannot be placed). ``service`` holds the rules around
them (availability, survey, forming, moving, re-forming, export); ``groups`` tells the peer
exercises who is in the same team.
"""

# Modules other features may import (tests/unit/test_layers.py); the rest is internal.
PUBLIC_MODULES: tuple[str, ...] = ("groups", "privacy")
