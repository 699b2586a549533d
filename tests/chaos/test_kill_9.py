"""kill -9 of each process during a live meeting (real bot, real ASR, mock Meet): after recovery
every segment the ASR emitted is stored once, every event the meeting owes was delivered with a
stable `event_id`, the meeting is terminal and every SQLite file passes its integrity check."""

from __future__ import annotations

import httpx
import pytest

from tests.chaos.harness import TURNS, ChaosAppliance, Fault, MeetingRun, WebhookReceiver, settle
from tests.conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("speech_programs")]

# Every place a meeting's end passes a commit, in the serve process and the worker, and the
# ASR's spool: each fires once in the run that arms them all.
MEETING_END_POINTS = [
    "collector.after_commit", "asr.after_spool",
    "lifecycle.before_commit", "lifecycle.after_commit", "relay.after_commit", "relay.after_enqueue",
    "delivery.after_claim", "delivery.after_post",
]


def live_meeting(chaos: ChaosAppliance, control: httpx.Client, receiver: WebhookReceiver, email: str) -> MeetingRun:
    """A meeting with the bot in it and the first turn transcribed."""
    run = MeetingRun(chaos, control, receiver, email)
    run.begin()
    run.wait_status({"active"})
    run.speak(*TURNS[0])
    wait_until(run.ledger, 60, 0.3, "the ASR to emit a first completed segment")
    return run


@pytest.mark.parametrize("process", ["worker", "asr", "bot"])
def test_kill_9_of_a_child_mid_meeting(chaos: ChaosAppliance, mock_control: httpx.Client,
                                       receiver: WebhookReceiver, process: str) -> None:
    run = live_meeting(chaos, mock_control, receiver, f"chaos-{process}@example.com")
    assert chaos.kill(process, run.shown())
    for turn in TURNS[1:3]:
        run.speak(*turn)
    if process != "bot":  # a killed bot is gone: its meeting fails by itself
        run.mock("end")
    outcome = settle(run, [Fault(process)])
    assert outcome.recovered, outcome.problems()
    assert outcome.status == ("failed" if process == "bot" else "completed")
    # The bot dies with the first turn transcribed; otherwise the later turns are too.
    assert outcome.segments_emitted >= (1 if process == "bot" else 3)
    run.close()


def test_kill_9_of_serve_with_the_webhook_receiver_down(chaos: ChaosAppliance, mock_control: httpx.Client,
                                                        receiver: WebhookReceiver) -> None:
    run = live_meeting(chaos, mock_control, receiver, "chaos-serve@example.com")
    receiver.stop()  # down across the restart and the meeting's end
    assert chaos.kill("serve")
    run.speak(*TURNS[1])
    chaos.wait_up()
    run.speak(*TURNS[2])
    run.mock("end")
    run.wait_status({"completed"})
    receiver.start()
    outcome = settle(run, [Fault("serve")])
    assert outcome.recovered, outcome.problems()
    assert outcome.status == "completed"
    run.close()


def test_every_meeting_end_fault_point_once(chaos: ChaosAppliance, mock_control: httpx.Client,
                                            receiver: WebhookReceiver) -> None:
    run = live_meeting(chaos, mock_control, receiver, "chaos-points@example.com")
    kills = chaos.arm(MEETING_END_POINTS)
    try:
        run.speak(*TURNS[1])  # segments: collector.after_commit, asr.after_spool
        # A user stop ends the meeting in two moves (active -> stopping -> completed), each
        # with its relay pass: the lifecycle and relay points fire in turn, the delivery
        # points in the worker.
        path = f"/bots/google_meet/{run.native}"
        wait_until(lambda: stop_accepted(run.client, path), 120, 0.5, "the stop to be accepted")
        outcome = settle(run, kills + [Fault("point", name) for name in MEETING_END_POINTS])
    finally:
        chaos.disarm()
    assert outcome.recovered, outcome.problems()
    assert outcome.status == "completed"
    assert sorted(name for _, name in chaos.fired()) == sorted(MEETING_END_POINTS)
    run.close()


def stop_accepted(client: httpx.Client, path: str) -> bool:
    """DELETE, again after a crash took the answer away: 202, or 409 once the meeting ended."""
    try:
        return client.delete(path).status_code in (202, 409)
    except httpx.TransportError:
        return False
