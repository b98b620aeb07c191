"""cohortbot core: settings, storage, domain services, scheduling, web and CLI.

Nothing here imports discord except the Discord application wiring (``bot.discord_app``);
a Slack adapter later must be able to reuse every service untouched.
"""

__version__ = "0.1.0"
