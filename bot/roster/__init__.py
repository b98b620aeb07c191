"""Programme and roster loading: who is in the cohort, and which modules it studies.

The programme (TOML) and the roster (CSV) are the admin's source of truth, so loading them is
all-or-nothing and every problem is reported at once, with its line, rather than one per run.
"""

# Modules other features may import (tests/unit/test_layers.py); the rest is internal.
PUBLIC_MODULES: tuple[str, ...] = ()
