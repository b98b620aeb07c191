"""The tutor dashboard's services: read-only page data, password-less sign-in, tutor messages.

The web layer (``bot.web.dashboard``) renders what ``reads`` returns and asks ``signin`` who is
signed in; it never queries the database itself.
"""

# Modules other features may import (tests/unit/test_layers.py); the rest is internal.
PUBLIC_MODULES: tuple[str, ...] = ("messages", "privacy", "reads", "signin")
