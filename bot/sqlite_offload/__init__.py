"""SQLite only: the work a SQLite file makes the bot move off its event loop, in child processes.

On a SQLite file every statement is Python on the bot's one event loop (aiosqlite's thread
still takes the interpreter lock), so at the end of term three things run in processes of
their own, forked from a fork server (``childproc``): the discussion writer
(``discussion_writer``: batches of evidence), the ``/marks`` reader and the gradebook exporter
(``marks_reader``). PostgreSQL, the production store (docs/architecture.md, Storage), never
enters here: there every batch and every read runs on the event loop, and so does in-memory
SQLite and ``COHORTBOT_GRADEBOOK_WORKERS=loop``.

Only two modules outside this package use it (``bot.discussions.recorder`` and the facade
``bot.gradebook.reader``); tests/unit/test_sqlite_offload_fence.py keeps it that way.
"""
