"""The durable task queue (Huey on its own SQLite file) and the tasks the worker runs.

The queue is created lazily from the settings so that importing this module has no side effects;
`vomeet worker` consumes it, the API process only enqueues.
"""

from __future__ import annotations

from functools import lru_cache

from huey import SqliteHuey, crontab

from appliance.config import Settings, load_settings
from appliance.worker_health import touch_heartbeat


@lru_cache(maxsize=1)
def queue() -> SqliteHuey:
    settings = load_settings()
    settings.ensure_dirs()
    return SqliteHuey("vomeet", filename=str(settings.queue_path), utc=True)


def settings() -> Settings:
    return load_settings()


def register(huey: SqliteHuey) -> None:
    """Attach the tasks to the queue (called by the worker and by enqueuers)."""

    @huey.periodic_task(crontab(minute="*"), name="heartbeat")
    def heartbeat() -> None:
        touch_heartbeat(settings())

    @huey.on_startup()
    def first_heartbeat() -> None:
        touch_heartbeat(settings())
