"""The handle on the durable task queue that the API process enqueues through (the outbox relay)
and the worker consumes; built by `appliance.tasks.build_queue`. A leaf: it knows no task, so
whoever enqueues does not import the tasks' code (webhook delivery, retention)."""

from __future__ import annotations

from dataclasses import dataclass

from huey import SqliteHuey
from huey.api import TaskWrapper


@dataclass(frozen=True)
class TaskQueue:
    huey: SqliteHuey
    deliver_webhook: TaskWrapper
