"""The Slack wiring: the one place (like ``cogs/`` for Discord) where cohortbot meets Slack.

Nothing in ``bot/`` imports this package; ``cohortbot run`` finds ``SlackApplication`` through
the ``cohortbot.platforms`` entry point when ``COHORTBOT_PLATFORM=slack``.
"""
