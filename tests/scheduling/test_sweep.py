"""The sweep with a clock the test sets: launched at start minus the lead and not before, a late
meeting skipped with its reason, a moved one relaunched at the new time, a cancelled one never
launched, nothing lost or doubled by a restart between two sweeps."""

from __future__ import annotations

from datetime import timedelta

from appliance.config import Settings
from appliance.db.models import Meeting, ScheduledMeeting
from appliance.scheduling.sweep import sweep
from tests.scheduling.conftest import (
    T0,
    add_user,
    entry,
    event,
    meetings_of,
    readers_of,
    run,
    scheduled_rows,
    services_on,
    sync,
)

LEAD = timedelta(seconds=60)


def test_a_calendar_meeting_gets_its_bot_at_start_minus_the_lead_and_not_before(settings: Settings) -> None:
    async def scenario() -> None:
        async with services_on(settings) as services:
            ann = await add_user(services, "ann@example.com")
            await sync(services, T0 - timedelta(hours=2), entry(ann, event()))
            (scheduled,) = await scheduled_rows(services)
            assert (scheduled.state, scheduled.auto_join, scheduled.decision_reason) == ("scheduled", True, "rule: all")

            early = await sweep(services.meetings, T0 - LEAD - timedelta(seconds=1))
            assert early.launched == [] and await meetings_of(services, scheduled.id) == []

            due = await sweep(services.meetings, T0 - LEAD)
            assert due.launched == [scheduled.id]
            (meeting,) = await meetings_of(services, scheduled.id)
            assert meeting.user_id == ann.id
            assert meeting.constructed_meeting_url == "https://meet.google.com/abc-defg-hij"
            assert meeting.data["name"] == "Stand-up"  # the event's title names the meeting
            first = meeting.transitions[0]
            assert (first["to"], first["source"], first["reason"]) == ("requested", "system", "scheduled")
            (after,) = await scheduled_rows(services)
            assert after.state == "launched"

            again = await sweep(services.meetings, T0)
            assert again.launched == [] and len(await meetings_of(services, scheduled.id)) == 1

    run(settings, scenario)


def test_a_meeting_started_longer_ago_than_the_skip_window_is_skipped_with_why(settings: Settings) -> None:
    async def scenario() -> None:
        async with services_on(settings) as services:
            ann = await add_user(services, "ann@example.com")
            await sync(services, T0 - timedelta(hours=2), entry(ann, event()))
            # The box was off from before the lead time until 12 minutes into the meeting.
            report = await sweep(services.meetings, T0 + timedelta(minutes=12))
            (scheduled,) = await scheduled_rows(services)
            assert report.skipped == [scheduled.id]
            assert (scheduled.state, scheduled.auto_join) == ("skipped", False)
            assert scheduled.decision_reason == "started 12 min ago"
            assert await meetings_of(services, scheduled.id) == []
            # Within the window a late bot still goes.
            await sync(services, T0, entry(ann, event("retro", T0 + timedelta(hours=1))))
            late = await sweep(services.meetings, T0 + timedelta(hours=1, minutes=9))
            assert len(late.launched) == 1

    run(settings, scenario)


def test_a_moved_meeting_is_launched_at_its_new_time_and_relaunched_after_a_run(settings: Settings) -> None:
    async def scenario() -> None:
        async with services_on(settings) as services:
            ann = await add_user(services, "ann@example.com")
            await sync(services, T0 - timedelta(hours=2), entry(ann, event()))
            later = T0 + timedelta(hours=3)
            await sync(services, T0 - timedelta(hours=1), entry(ann, event(start=later)))
            (scheduled,) = await scheduled_rows(services)
            assert scheduled.start_at == later
            assert (await sweep(services.meetings, T0 - LEAD)).launched == []  # the old time
            assert (await sweep(services.meetings, later - LEAD)).launched == [scheduled.id]

            # Moved again once that bot's run is over: a new bot at the newer time, same row.
            (first,) = await meetings_of(services, scheduled.id)
            await services.meetings.finish_without_bot(first.id, "test: the first run ended")
            newer = later + timedelta(days=1)
            await sync(services, later + timedelta(hours=1), entry(ann, event(start=newer)))
            (moved,) = await scheduled_rows(services)
            assert (moved.id, moved.state, moved.start_at) == (scheduled.id, "scheduled", newer)
            assert (await sweep(services.meetings, newer - LEAD)).launched == [scheduled.id]
            assert len(await meetings_of(services, scheduled.id)) == 2

    run(settings, scenario)


def test_a_cancelled_meeting_never_launches(settings: Settings) -> None:
    async def scenario() -> None:
        async with services_on(settings) as services:
            ann = await add_user(services, "ann@example.com")
            other = event("review", url="https://meet.google.com/xyz-wxyz-xyz")
            await sync(services, T0 - timedelta(hours=2), entry(ann, event()), entry(ann, other))
            await sync(services, T0 - timedelta(hours=1), entry(ann, event(cancelled=True)))
            cancelled, kept = await scheduled_rows(services)
            assert (cancelled.state, cancelled.decision_reason) == ("cancelled", "cancelled on the calendar")
            assert kept.state == "scheduled"
            report = await sweep(services.meetings, T0)
            assert report.launched == [kept.id]
            assert await meetings_of(services, cancelled.id) == []
            # Gone from a full listing later: still cancelled, still no bot.
            await sync(services, T0 + timedelta(minutes=1), gone=(entry(ann, event()).key,))
            assert (await sweep(services.meetings, T0 + timedelta(minutes=2))).launched == []

    run(settings, scenario)


def test_a_restart_between_two_sweeps_loses_and_doubles_nothing(settings: Settings) -> None:
    async def first_run() -> int:
        async with services_on(settings) as services:
            ann = await add_user(services, "ann@example.com")
            await sync(services, T0 - timedelta(hours=2), entry(ann, event()),
                       entry(ann, event("later", T0 + timedelta(hours=1), url="https://meet.google.com/xyz-wxyz-xyz")))
            report = await sweep(services.meetings, T0 - LEAD)
            assert len(report.launched) == 1
            return report.launched[0]

    launched = run(settings, first_run)

    async def second_run() -> None:
        async with services_on(settings) as services:  # the same files, new processes' objects
            again = await sweep(services.meetings, T0 - LEAD)
            assert again.launched == [], "a restart must not start a second bot"
            first, second = await scheduled_rows(services)
            assert (first.id, first.state) == (launched, "launched")
            assert second.state == "scheduled"
            report = await sweep(services.meetings, T0 + timedelta(hours=1) - LEAD)
            assert report.launched == [second.id], "what was still to come after the restart starts"
            assert [len(await meetings_of(services, s.id)) for s in (first, second)] == [1, 1]

    run(settings, second_run)


def test_three_users_with_the_same_meeting_get_one_bot_run_as_the_first_who_wants_it(settings: Settings) -> None:
    async def scenario() -> None:
        async with services_on(settings) as services:
            ann = await add_user(services, "ann@example.com")
            bob = await add_user(services, "bob@example.com")
            cid = await add_user(services, "cid@example.com", auto_join_rules={"mode": "none"})
            copies = [
                # Ann has not answered the invitation and only wants accepted meetings.
                entry(ann, event("inv", owner=ann.email, status="needs-action"), 1, {"mode": "accepted"}),
                entry(bob, event("inv", owner=bob.email), 2),
                entry(cid, event("inv", owner=cid.email), 3),  # her default: never join
            ]
            await sync(services, T0 - timedelta(days=1), *copies)
            await sync(services, T0 - timedelta(hours=1), *copies)  # a resync: no duplicates
            (scheduled,) = await scheduled_rows(services)
            assert await readers_of(services, scheduled.id) == [ann.id, bob.id, cid.id]
            assert (scheduled.auto_join, scheduled.user_id, scheduled.decision_reason) == (True, bob.id, "rule: all")

            assert (await sweep(services.meetings, T0 - LEAD)).launched == [scheduled.id]
            (meeting,) = await meetings_of(services, scheduled.id)
            assert meeting.user_id == bob.id
            for user in (ann, bob, cid):
                assert (await services.meetings.get_owned(user.id, meeting.id, readers=True)).id == meeting.id

    run(settings, scenario)


def test_an_override_beats_the_rules_both_ways(settings: Settings) -> None:
    async def scenario() -> None:
        async with services_on(settings) as services:
            ann = await add_user(services, "ann@example.com")
            private = event("1on1", private=True)
            public = event("allhands", url="https://meet.google.com/xyz-wxyz-xyz")
            await sync(services, T0 - timedelta(days=1), entry(ann, private), entry(ann, public))
            kept_out, wanted = await scheduled_rows(services)
            assert (kept_out.auto_join, kept_out.decision_reason) == (False, "private")
            assert (wanted.auto_join, wanted.decision_reason) == (True, "rule: all")

            now = T0 - timedelta(hours=1)
            joined = await services.scheduling.change(ann.id, kept_out.id, now, override="join")
            assert (joined.auto_join, joined.decision_reason) == (True, "override: join")
            skipped = await services.scheduling.change(ann.id, wanted.id, now, override="skip")
            assert (skipped.auto_join, skipped.decision_reason) == (False, "override: skip")
            # A later sync keeps the user's choice.
            await sync(services, now, entry(ann, private), entry(ann, public))

            report = await sweep(services.meetings, T0 - LEAD)
            assert report.launched == [kept_out.id] and report.skipped == [wanted.id]
            (_, not_joined) = await scheduled_rows(services)
            assert (not_joined.state, not_joined.decision_reason) == ("skipped", "override: skip")

    run(settings, scenario)


def test_an_invitation_accepted_after_its_bot_was_passed_over_still_gets_one(settings: Settings) -> None:
    async def scenario() -> None:
        async with services_on(settings) as services:
            ann = await add_user(services, "ann@example.com")
            rules = {"mode": "accepted"}
            await sync(services, T0 - timedelta(days=1), entry(ann, event(status="needs-action"), rules=rules))
            assert (await sweep(services.meetings, T0 - LEAD)).launched == []
            (passed,) = await scheduled_rows(services)
            assert (passed.state, passed.decision_reason) == ("skipped", "not accepted")

            await sync(services, T0 + timedelta(minutes=2), entry(ann, event(status="accepted"), rules=rules))
            assert (await sweep(services.meetings, T0 + timedelta(minutes=2))).launched == [passed.id]

    run(settings, scenario)


def test_a_crash_between_claiming_a_meeting_and_starting_its_bot_starts_it_after_the_restart(
    settings: Settings,
) -> None:
    async def before_the_crash() -> int:
        async with services_on(settings) as services:
            ann = await add_user(services, "ann@example.com")
            await sync(services, T0 - timedelta(hours=2), entry(ann, event()))
            (scheduled,) = await scheduled_rows(services)
            # What launch() commits before it starts the bot: the claim and a `requested` meeting.
            async with services.db.session() as session:
                row = await session.get(ScheduledMeeting, scheduled.id)
                assert row is not None
                row.state = "launched"
                session.add(Meeting(
                    user_id=ann.id, scheduled_meeting_id=scheduled.id, platform="google_meet",
                    native_meeting_id="abc-defg-hij", constructed_meeting_url=row.meeting_url,
                    status="requested", data={}, transitions=[], runtime_kind="process",
                ))
                await session.commit()
            return scheduled.id

    scheduled_id = run(settings, before_the_crash)

    async def after_the_restart() -> None:
        async with services_on(settings) as services:
            await services.meetings.reconcile()  # what the API process does first at start-up
            (waiting,) = await scheduled_rows(services)
            assert waiting.state == "scheduled" and "restarted" in (waiting.error or "")
            assert (await sweep(services.meetings, T0 - LEAD)).launched == [scheduled_id]
            lost, started = await meetings_of(services, scheduled_id)
            assert lost.status == "failed"
            assert (started.transitions[0]["to"], started.transitions[0]["reason"]) == ("requested", "scheduled")

    run(settings, after_the_restart)


def test_a_reader_dropped_and_added_back_is_a_reader_again(settings: Settings) -> None:
    """A calendar disconnected and connected again (or organisation-wide access finding the same
    meeting) adds the user back to a scheduled meeting they were once told of."""

    async def scenario() -> None:
        async with services_on(settings) as services:
            ann = await add_user(services, "ann@example.com")
            bob = await add_user(services, "bob@example.com")
            bobs = entry(bob, event("inv", owner=bob.email), 2)
            await sync(services, T0 - timedelta(days=1), entry(ann, event("inv"), 1), bobs)
            (scheduled,) = await scheduled_rows(services)
            assert await readers_of(services, scheduled.id) == [ann.id, bob.id]
            await sync(services, T0 - timedelta(hours=3), gone=(bobs.key,))
            assert await readers_of(services, scheduled.id) == [ann.id]
            await sync(services, T0 - timedelta(hours=2), bobs)
            assert await readers_of(services, scheduled.id) == [ann.id, bob.id]

    run(settings, scenario)
