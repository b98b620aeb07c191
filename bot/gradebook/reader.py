"""Where ``/marks`` and the gradebook exports run: ``bot.sqlite_offload.marks_reader``.

On a SQLite file, in processes beside the bot; on PostgreSQL, on the event loop. The cogs
import from here, the gradebook's name for it.
"""

from bot.sqlite_offload.marks_reader import (
    Exporter,
    ExportRequest,
    MarksReader,
    RenderedView,
    WorkerKind,
    render,
)

__all__ = ["ExportRequest", "Exporter", "MarksReader", "RenderedView", "WorkerKind", "render"]
