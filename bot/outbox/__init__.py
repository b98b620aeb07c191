"""One outbox for everything the bot sends without being asked.

Features decide *what* to send and enqueue it (``enqueue``) in the transaction that decided
it, so a change of state and the message it owes commit together or not at all. The
``Outbox`` (one per process, owned by the application) sends: it claims messages with a lease
(an atomic ``UPDATE ... WHERE state``), sends them through the chat port concurrently and in
order per target, and records each outcome. Every message carries a marker (rendered by the
chat adapter: on Discord a ``-# cohortbot <marker>`` line); a claim whose lease expired (its
sender died) and a retry after an uncertain failure first read the target's history for that
marker and record what they find instead of sending again. Late, never lost, never twice.

- ``message``: what a feature enqueues (``Message``) and how it hears back (``register``);
- ``policy``: lease, backoff, attempts (pure);
- ``store``: the table's atomic transitions;
- ``sender``: the concurrent, paced sending and the drain on shutdown.
"""

from bot.outbox.message import FileRef, Hooks, Message, Outcome, register, register_files
from bot.outbox.policy import LEASE, MAX_ATTEMPTS
from bot.outbox.sender import Outbox, Report, deliver, new_worker_id
from bot.outbox.store import NOT_LINKED, add_waker, cancel, enqueue, remove_waker

__all__ = [
    "LEASE",
    "MAX_ATTEMPTS",
    "NOT_LINKED",
    "FileRef",
    "Hooks",
    "Message",
    "Outbox",
    "Outcome",
    "Report",
    "add_waker",
    "cancel",
    "deliver",
    "enqueue",
    "new_worker_id",
    "register",
    "register_files",
    "remove_waker",
]
