"""The long-lived objects of the API process, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.devices.service import Devices
from appliance.events import EventHub
from appliance.live.collector import SegmentCollector, SegmentView
from appliance.live.hub import LiveHub
from appliance.meetings.lifecycle_store import LifecycleStore
from appliance.meetings.service import MeetingService
from appliance.recordings.service import RecordingService
from appliance.relay import OutboxRelay
from appliance.runtime.base import BotRuntime
from appliance.runtime.process import ProcessRuntime
from appliance.scheduling.scheduler import Scheduler
from appliance.scheduling.service import SchedulingService
from appliance.task_queue import TaskQueue
from appliance.tasks import build_queue
from appliance.tls import current_fingerprint


@dataclass
class Services:
    settings: Settings
    db: Database
    hub: EventHub
    relay: OutboxRelay
    lifecycle: LifecycleStore
    runtime: BotRuntime
    meetings: MeetingService
    queue: TaskQueue
    live: LiveHub
    collector: SegmentCollector
    recordings: RecordingService
    devices: Devices
    # Made from the meeting service (__post_init__), so the constructor calls stay as they are.
    scheduler: Scheduler = field(init=False)
    scheduling: SchedulingService = field(init=False)

    def __post_init__(self) -> None:
        self.scheduler = Scheduler(self.meetings, on_swept=self.relay.flush)
        self.scheduling = SchedulingService(self.settings, self.db)

    @classmethod
    def build(cls, settings: Settings, segment_view: SegmentView) -> Services:
        """Wire the services; `segment_view` is the wire form of a segment for live events."""
        db = Database(settings)
        hub = EventHub()
        queue = build_queue(settings)
        relay = OutboxRelay(db, hub, queue)
        lifecycle = LifecycleStore(db, relay)
        runtime = ProcessRuntime(settings.logs_dir)
        meetings = MeetingService(settings, db, lifecycle, runtime)
        runtime.set_exit_callback(meetings.on_bot_exit)
        # Live subscribers first: a /ws client never waits on the recording's drain.
        live = LiveHub()
        hub.subscribe(live.on_event)
        recordings = RecordingService(settings, db)
        recordings.set_events_committed(relay.flush)
        hub.subscribe(recordings.on_event)
        collector = SegmentCollector(db, hub, lifecycle, segment_view)
        devices = Devices.build(settings, db, lambda: current_fingerprint(settings))
        return cls(
            settings, db, hub, relay, lifecycle, runtime, meetings, queue, live, collector, recordings, devices
        )

    async def close(self) -> None:
        await self.scheduler.stop()  # no bot starts while the others stop
        await self.runtime.shutdown(self.settings.bot_stop_grace_s)
        await self.meetings.drain()
        await self.recordings.close()
        await self.db.dispose()
