"""bot/speakers.py: speaker turns of a mixed stream from the outlines and the RTP contributing
sources, with plain data (times in seconds)."""

from __future__ import annotations

from typing import Any

from bot.audio_router import AudioRouter
from bot.speakers import SpeakerTurns

X, Y = 0x1A2B3C4D, 0x5E6F7081


def packets(csrc: int, start: float, end: float) -> list[tuple[int, float]]:
    """A packet every 20 ms from `start` to `end`, as the page polls them (latest packet times)."""
    count = round((end - start) / 0.02)
    return [(csrc, round(start + 0.02 * i, 3)) for i in range(count + 1)]


def spans(turns: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    return [(t["speaker"], t["start"], t["end"]) for t in turns]


def merged(turns: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """Pieces of one name that follow each other joined into one turn."""
    out: list[tuple[str, float, float]] = []
    for name, start, end in sorted(spans(turns), key=lambda s: s[1]):
        if out and out[-1][0] == name and abs(out[-1][2] - start) < 1e-6:
            out[-1] = (name, out[-1][1], end)
        else:
            out.append((name, start, end))
    return out


def test_without_sources_the_outline_turns_are_reported_as_they_go() -> None:
    turns = SpeakerTurns()
    turns.outline("Alice", True, 10.0)
    turns.outline("Alice", True, 10.2)  # already on: nothing changes
    assert spans(turns.take(11.0)) == [("Alice", 10.0, 11.0)]
    turns.outline("Alice", False, 11.5)
    turns.outline("Bob", True, 11.6)
    turns.outline("", True, 11.6)  # a tile without a name
    assert spans(turns.take(12.0)) == [("Alice", 11.0, 11.5), ("Bob", 11.6, 12.0)]
    assert spans(turns.take(12.5, final=True)) == [("Bob", 12.0, 12.5)]
    assert turns.take(13.0) == []


def test_a_source_is_bound_to_the_outline_that_comes_on_and_times_the_turn() -> None:
    turns = SpeakerTurns()
    turns.outline("Alice", True, 10.7)  # the outline lags the audio by 700 ms
    turns.heard(packets(X, 10.0, 11.0), polled=11.0)
    # Unbound and still within the window where its outline may come on: nothing yet.
    assert turns.take(11.0) == []
    turns.outline("Alice", False, 11.7)
    turns.heard([], polled=11.3)
    assert spans(turns.take(11.3)) == [("Alice", 10.0, 11.02)]
    assert turns.sources[X].name == "Alice"
    # The outline's late end reports nothing: the turn ended with the source's last packet.
    turns.heard([], polled=12.0)
    assert turns.take(12.0) == []


def test_a_bound_source_is_reported_as_it_goes_without_waiting_for_the_outline() -> None:
    turns = SpeakerTurns()
    turns.outline("Alice", True, 10.7)
    turns.heard(packets(X, 10.0, 11.5), polled=11.5)
    assert merged(turns.take(11.5)) == [("Alice", 10.0, 11.52)]
    turns.outline("Alice", False, 12.2)
    turns.heard(packets(X, 20.0, 20.4), polled=20.4)  # her next turn: no outline needed yet
    assert merged(turns.take(20.4)) == [("Alice", 20.0, 20.42)]


def test_alternating_turns_with_lagging_outlines_go_to_the_right_names() -> None:
    turns = SpeakerTurns()
    reported: list[dict[str, Any]] = []
    # Alice 10.0-11.0, Bob 11.2-12.0, Alice 12.2-13.0, Bob 13.2-14.0; outlines 700 ms late.
    talk = [(X, "Alice", 10.0, 11.0), (Y, "Bob", 11.2, 12.0), (X, "Alice", 12.2, 13.0), (Y, "Bob", 13.2, 14.0)]
    for csrc, name, start, end in talk:
        turns.outline(name, True, start + 0.7)
        turns.heard(packets(csrc, start, end), polled=end)
        reported += turns.take(end)
        turns.outline(name, False, end + 0.7)
    turns.heard([], polled=16.0)
    reported += turns.take(16.0, final=True)
    assert merged(reported) == [("Alice", 10.0, 11.02), ("Bob", 11.2, 12.02), ("Alice", 12.2, 13.02),
                                ("Bob", 13.2, 14.02)]
    assert {c: s.name for c, s in turns.sources.items()} == {X: "Alice", Y: "Bob"}


def test_a_name_bound_to_a_live_source_is_not_a_candidate_for_another() -> None:
    turns = SpeakerTurns()
    turns.outline("Alice", True, 10.5)
    turns.heard(packets(X, 10.0, 10.6), polled=11.5)
    turns.take(11.5)
    assert turns.sources[X].name == "Alice"
    # Bob starts while Alice's late outline is still on, his own comes on 700 ms later, and
    # Alice's next outline onset (her next turn) falls in his window too.
    turns.outline("Alice", False, 11.3)
    turns.outline("Bob", True, 11.4)
    turns.outline("Alice", True, 11.6)
    turns.heard(packets(Y, 10.7, 11.0), polled=12.0)
    turns.take(12.0)
    assert turns.sources[Y].name == "Bob"


def test_a_short_pause_does_not_split_a_turn_a_longer_one_does() -> None:
    turns = SpeakerTurns()
    turns.outline("Alice", True, 10.5)
    turns.heard(packets(X, 10.0, 10.5) + packets(X, 10.76, 11.0), polled=12.5)  # 240 ms pause
    assert spans(turns.take(12.5)) == [("Alice", 10.0, 11.02)]
    assert len(turns.sources[X].turns) == 0  # over and reported
    turns.heard(packets(X, 13.0, 13.5) + packets(X, 13.9, 14.0), polled=14.0)  # 380 ms pause
    assert [(round(t.start, 3), round(t.end, 3)) for t in turns.sources[X].turns] == [(13.0, 13.52), (13.9, 14.02)]
    assert spans(turns.take(14.0)) == [("Alice", 13.0, 13.52), ("Alice", 13.9, 14.02)]


def test_a_turn_goes_on_until_the_source_has_been_quiet_for_a_while() -> None:
    turns = SpeakerTurns()
    turns.outline("Alice", True, 10.5)
    turns.heard(packets(X, 10.0, 11.3), polled=11.3)
    assert spans(turns.take(11.3)) == [("Alice", 10.0, 11.32)]
    turns.heard([], polled=11.5)  # quiet for 200 ms: the turn may go on
    assert turns.take(11.5) == [] and len(turns.sources[X].turns) == 1
    turns.heard(packets(X, 11.54, 11.8), polled=11.8)  # within QUIET_S of its last packet
    assert spans(turns.take(11.8)) == [("Alice", 11.32, 11.82)]
    assert turns.sources[X].pending == []  # no new onset
    turns.heard([], polled=12.2)
    assert turns.take(12.2) == [] and turns.sources[X].turns == []


def test_one_contradiction_does_not_rebind_repeated_ones_do() -> None:
    turns = SpeakerTurns()

    def turn(start: float, outline: str) -> None:
        turns.outline(outline, True, start + 0.6)
        turns.heard(packets(X, start, start + 1.0), polled=start + 2.0)
        turns.take(start + 2.0)
        turns.outline(outline, False, start + 1.6)

    turn(10.0, "Alice")
    assert turns.sources[X].name == "Alice"
    turn(20.0, "Bob")  # one observation says Bob
    assert turns.sources[X].name == "Alice"
    turn(30.0, "Alice")  # agreement: the doubt is gone
    turn(40.0, "Bob")
    assert turns.sources[X].name == "Alice"
    turn(50.0, "Bob")  # twice in a row: it is Bob's
    assert turns.sources[X].name == "Bob"


def test_a_source_with_no_clear_outline_falls_back_to_the_outline_turns() -> None:
    turns = SpeakerTurns()
    # Two outlines come on in the source's window: no binding, the outlines cover its time.
    turns.outline("Alice", True, 10.5)
    turns.outline("Bob", True, 10.9)
    turns.heard(packets(X, 10.0, 11.0), polled=11.0)
    assert turns.take(11.0) == []  # held while a binding may still come
    turns.outline("Bob", False, 11.3)
    turns.heard([], polled=11.5)
    assert sorted(spans(turns.take(11.5))) == [("Alice", 10.5, 11.02), ("Bob", 10.9, 11.02)]
    assert turns.sources[X].name is None
    # Outline time outside the source's turns (silence in the audio) is not reported.
    turns.heard([], polled=14.0)
    assert turns.take(14.0) == []


def test_the_first_source_ends_the_outline_turns_under_way() -> None:
    turns = SpeakerTurns()
    turns.outline("Alice", True, 9.0)
    assert spans(turns.take(9.5)) == [("Alice", 9.0, 9.5)]
    turns.heard(packets(X, 10.0, 10.4), polled=10.4)
    assert spans(turns.take(10.4)) == [("Alice", 9.5, 10.0)]
    turns.outline("Alice", False, 11.0)  # no outline-only piece any more
    turns.heard([], polled=12.0)
    assert spans(turns.take(12.0)) == [("Alice", 10.0, 10.42)]  # bound: Alice was the one on


def test_final_take_decides_and_reports_everything() -> None:
    turns = SpeakerTurns()
    turns.outline("Alice", True, 10.3)
    turns.heard(packets(X, 10.0, 10.5), polled=10.5)
    assert turns.take(10.5) == []
    assert spans(turns.take(10.6, final=True)) == [("Alice", 10.0, 10.52)]


def test_only_a_mixed_stream_keeps_speaker_turns() -> None:
    """Per-person channels (Meet) are named by the indicators on each block: the router keeps no
    turns for them, which would otherwise pile up for the whole meeting."""
    def block(t: float, on: bool) -> dict[str, Any]:
        return {"channel": "mix", "pcm": "", "rms": 0.0, "speaking": [], "at": t * 1000, "firstAt": 0,
                "events": [{"name": "Alice", "on": on, "t": t * 1000}]}

    for mixed, expected in ((False, []), (True, [("Alice", 10.0, 12.0)])):
        router = AudioRouter(None, mixed=mixed, recording=None)
        router.on_blocks([block(10.0, True), block(12.0, False)])
        assert merged(router.speakers.take(now=20.0, final=True)) == expected
