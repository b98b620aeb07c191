"""Allow ``python -m bot`` as well as the ``cohortbot`` console script."""

from bot.cli import main

raise SystemExit(main())
