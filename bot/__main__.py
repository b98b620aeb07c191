"""Allow ``python -m bot`` as well as the ``cohortbot`` console script."""

from bot.cli import main

if __name__ == "__main__":  # the discussion writer's child process may import this module
    raise SystemExit(main())
