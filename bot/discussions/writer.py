"""Moved to ``bot.sqlite_offload.discussion_writer`` (SQLite only); this path still imports."""

from bot.sqlite_offload.discussion_writer import BatchWriter, WriterKind

__all__ = ["BatchWriter", "WriterKind"]
