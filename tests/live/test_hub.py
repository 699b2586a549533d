"""The fan-out never waits for a subscriber: a slow one overflows and is dropped alone."""

from __future__ import annotations

import asyncio

from appliance.events import SegmentsChanged
from appliance.live.hub import QUEUE_LIMIT, LiveHub, Subscriber


def _segment_event(meeting_id: int, user_id: int, n: int) -> SegmentsChanged:
    return SegmentsChanged(meeting_id=meeting_id, user_id=user_id, segments=[{"segment_id": str(n)}])


def test_slow_subscriber_overflows_without_blocking_others() -> None:
    async def scenario() -> tuple[Subscriber, Subscriber, Subscriber]:
        hub = LiveHub()
        slow, fast, stranger = Subscriber(user_id=1), Subscriber(user_id=1), Subscriber(user_id=2)
        for subscriber in (slow, fast, stranger):
            hub.subscribe(subscriber, meeting_id=7)
        for n in range(QUEUE_LIMIT + 5):
            await hub.on_event(_segment_event(7, 1, n))
            if not fast.queue.empty():
                fast.queue.get_nowait()  # the fast client keeps up
        return slow, fast, stranger

    slow, fast, stranger = asyncio.run(scenario())
    assert slow.overflowed.is_set() and slow.queue.qsize() == QUEUE_LIMIT
    assert not fast.overflowed.is_set()
    # Another user's subscription to the same meeting id receives nothing of it.
    assert stranger.queue.empty()


def test_unsubscribe_and_drop_forget_the_subscriber() -> None:
    hub = LiveHub()
    subscriber = Subscriber(user_id=1)
    hub.subscribe(subscriber, 1)
    hub.subscribe(subscriber, 2)
    assert hub.subscriber_count() == 1
    hub.unsubscribe(subscriber, 1)
    assert subscriber.meetings == {2}
    hub.drop(subscriber)
    assert hub.subscriber_count() == 0 and subscriber.meetings == set()
