"""bot/admission.py: whether the bot got in, decided from the platforms' own page cues
(../shared/platform-cues.md, through bot/google_meet.py's and bot/teams.py's admission tests), with
plain probes (no browser) and a clock in seconds since the bot asked to join."""

from __future__ import annotations

from appliance.lifecycle import CompletionReason
from bot import google_meet, teams
from bot.admission import ADMISSION_POLL_S, CONFIRM_ADMISSION_S, Admission, Look
from bot.probe import Probe

WAITING_ROOM_S = 900.0
MEET_LOBBY = "Asking to be let in"


def meet() -> Admission:
    return Admission(google_meet.admitted, asked_at=0.0, waiting_room_timeout_s=WAITING_ROOM_S)


def probe(*signals: str, **texts: str) -> Probe:
    return Probe(signals={s: True for s in signals}, texts=dict(texts), tiles=[], roster=[], body="",
                 url="https://meet.example/abc")


def in_call(*extra: str, **texts: str) -> Probe:
    """Meet's call page: Leave call, People and Chat, participant tiles."""
    return probe("leave", "people", "chat", "tiles", *extra, **texts)


def test_admitted_after_a_second_look_agrees() -> None:
    admission = meet()
    first = admission.decide(in_call(), 10.0)
    assert (first, first.delay_s) == (Look(confirm=True), CONFIRM_ADMISSION_S)
    assert admission.decide(in_call(), 11.0) == Look(admitted=True)


def test_a_second_look_in_the_lobby_is_not_admission() -> None:
    admission = meet()
    admission.decide(in_call(), 10.0)
    second = admission.decide(probe("leave", "people", lobby=MEET_LOBBY), 11.0)
    assert second == Look(entered_lobby=MEET_LOBBY)
    assert second.delay_s == ADMISSION_POLL_S


def test_a_refusal_on_the_second_look_is_a_refusal() -> None:
    admission = meet()
    admission.decide(in_call(), 10.0)
    refused = admission.decide(in_call(rejected="Your request to join wasn't accepted"), 11.0)
    assert refused == Look(CompletionReason.ADMISSION_REJECTED)


def test_the_lobby_is_reported_once() -> None:
    admission = meet()
    assert admission.decide(probe("toolbar", lobby=MEET_LOBBY), 1.0) == Look(entered_lobby=MEET_LOBBY)
    assert admission.decide(probe("toolbar", lobby=MEET_LOBBY), 1.5) == Look()


def test_in_call_controls_with_lobby_text_are_not_admission() -> None:
    # The most reported failure of such bots: "admitted" while still in the lobby.
    assert meet().decide(in_call(lobby=MEET_LOBBY), 1.0) == Look(entered_lobby=MEET_LOBBY)


def test_meet_needs_two_in_call_signals_and_no_join_button() -> None:
    assert meet().decide(probe("leave"), 1.0) == Look()
    assert meet().decide(in_call("join"), 1.0) == Look()
    assert meet().decide(probe("leave", "chat"), 1.0) == Look(confirm=True)


def test_teams_is_admitted_on_the_hang_up_button() -> None:
    admission = Admission(teams.admitted, asked_at=0.0, waiting_room_timeout_s=WAITING_ROOM_S)
    assert admission.decide(probe("leave", "join"), 1.0) == Look()
    assert admission.decide(probe("leave", lobby="You're in the lobby"), 2.0) == Look(
        entered_lobby="You're in the lobby")
    assert admission.decide(probe("leave"), 3.0) == Look(confirm=True)
    assert admission.decide(probe("leave"), 4.0) == Look(admitted=True)


def test_refused_removed_and_ended_end_the_wait() -> None:
    assert meet().decide(probe(rejected="You can't join this video call"), 1.0) == Look(
        CompletionReason.ADMISSION_REJECTED)
    assert meet().decide(probe(removed="Someone has removed you from the meeting"), 1.0) == Look(
        CompletionReason.ADMISSION_REJECTED)
    assert meet().decide(probe(ended="The meeting has ended"), 1.0) == Look(CompletionReason.MEETING_ENDED)


def test_the_waiting_room_times_out_just_after_its_timeout() -> None:
    admission = meet()
    assert admission.decide(probe(lobby=MEET_LOBBY), 1.0) == Look(entered_lobby=MEET_LOBBY)
    assert admission.decide(probe(lobby=MEET_LOBBY), WAITING_ROOM_S) == Look()
    assert admission.decide(probe(lobby=MEET_LOBBY), WAITING_ROOM_S + 0.1) == Look(
        CompletionReason.ADMISSION_TIMEOUT)


def test_a_lobby_first_seen_after_the_timeout_is_still_reported() -> None:
    late = meet().decide(probe(lobby=MEET_LOBBY), WAITING_ROOM_S + 1)
    assert late == Look(CompletionReason.ADMISSION_TIMEOUT, entered_lobby=MEET_LOBBY)
