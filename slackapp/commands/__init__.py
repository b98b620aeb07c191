"""Slack's slash commands: ``table`` declares them, each feature's module adds its own.

The table is imported first, whichever module is asked for: a feature module needs the
table's types, and the table collects every feature's commands.
"""

from slackapp.commands import table as table
