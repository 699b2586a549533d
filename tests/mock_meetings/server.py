"""Mock Google Meet and Microsoft Teams meetings on loopback, driven by a test-control API.

The pages show the cues of the real ones (docs: /work/shared/platform-cues.md): the same
accessible names, texts and data attributes, so the bot meets the shapes it meets in production.
Remote participants speak synthesized speech (espeak-ng) over real WebRTC, sent from this server
(aiortc) as a meeting's media server would: the page only receives and decodes, so the bot's
Chromium pays for no encoder or sender of the mock's. Each remote stream is an RTCPeerConnection
offered by the server (non-trickle: aiortc puts its candidates in the SDP, the page answers once
its own ICE gathering is complete) whose track feeds an <audio> element. Meet has one stream per
remote participant, Teams one mixed stream.

A speech event is scheduled at a wall-clock time a little ahead (LEAD_S, so the page's 250 ms poll
sees it first; queued after the participant's previous one). The server's track sends 20 ms
frames paced in real time: silence, or the samples of the events that cover the frame (mixed on
Teams' stream). The page turns the speaking indicator on and off from the event's start time
(`start_ms`, epoch ms: same machine, same clock) and duration, so indicators stay truthful to the
audio. The event is marked `played` when its last frame has been sent. A client's connections are
closed when it leaves, is removed or denied, the meeting ends or the server stops; a Meet
participant's when that participant leaves.

Teams' mixed stream also says who is in it, as a real media server's mix does: each RTP packet
lists in its contributing sources (CSRC) the participants whose speech is audible in it (a stable
32-bit id per participant, `Participant.csrc`; none during silence), which the page reads with
`RTCRtpReceiver.getContributingSources()`. Real voice-level outlines are UI and lag the audio by a
few hundred ms: a meeting created with `outline_lag_ms` shows its Teams outlines that much late.

Meeting pages
    GET  /{code}                       Google Meet page (any code; unknown -> "Meeting not found")
    GET  /meet/{id}?p=...              Teams page (unknown -> the "couldn't find" page)
    POST /api/{id}/join {name}         the page asks to join -> {client, state}
    GET  /api/{id}/state?client=c      what the page shows now (polled every 250 ms)
    POST /api/{id}/leave {client}
    POST /api/{id}/media {client, participant?}   a stream (Meet: that participant's; Teams: the
                                       mix) -> {channel, type: offer, sdp}
    POST /api/{id}/media/{channel} {type: answer, sdp}   the page's answer

Test control (JSON)
    POST /control/meetings {id, platform: meet|teams, variant: ask|join-now, participants: [names],
                            outline_lag_ms?: Teams' outlines this late behind the audio (default 0)}
    GET  /control/meetings/{id}        {lobby, in_call, clients: [{name, state}], participants,
                                        csrcs: {name: CSRC}, outline_lag_ms, speech}
    POST /control/meetings/{id}/admit {name?}   /deny {name?}   /remove {name?}   /end
    POST /control/meetings/{id}/speak {participant, text, gap_ms?}  -> {seq, duration_s}
                                       (gap_ms: start that long after the meeting's last scheduled
                                       speech ends, whoever speaks it: turns that follow closely)
    POST /control/meetings/{id}/leave {participants?: [names]}  (all remote ones by default)
    POST /control/meetings/{id}/arrive {participants: [names]}
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import itertools
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtp import is_rtcp
from av import AudioFrame
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

STATIC = Path(__file__).parent / "static"
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp")
SAMPLE_RATE = 16000
FRAME = 320  # samples in a 20 ms frame
LEAD_S = 0.6  # a speech event starts this long after it is asked for (the page polls every 250 ms)
AUDIBLE_RMS = 0.005  # a participant is in a frame of the mix (its CSRC listed) above this level


@dataclass
class Participant:
    pid: str
    name: str
    voice: str
    present: bool = True

    @property
    def csrc(self) -> int:
        """Its contributing-source id in Teams' mix: a CRC-32 of its id (which holds its index),
        so 32 bits and stable for the meeting."""
        return zlib.crc32(self.pid.encode())


@dataclass
class Client:
    """A browser that opened the meeting page and asked to join (the bot)."""

    cid: str
    name: str
    state: str  # lobby | in | denied | removed | left | ended


@dataclass
class Speech:
    """A speech event: its public fields (`event`: seq, participant, name, text, duration_s,
    played), its samples and its start as a sample index on the wall clock (epoch * 16 kHz)."""

    event: dict[str, Any]
    samples: np.ndarray
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.samples)


@dataclass
class Meeting:
    mid: str
    platform: str
    variant: str
    participants: dict[str, Participant] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    speech: list[Speech] = field(default_factory=list)
    ended: bool = False
    outline_lag_ms: int = 0  # Teams: the voice-level outlines this late behind the audio

    def by_name(self, name: str) -> Participant:
        for participant in self.participants.values():
            if participant.name == name:
                return participant
        raise KeyError(name)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.mid,
            "platform": self.platform,
            "variant": self.variant,
            "ended": self.ended,
            "lobby": [c.name for c in self.clients.values() if c.state == "lobby"],
            "in_call": [c.name for c in self.clients.values() if c.state == "in"],
            "clients": [{"name": c.name, "state": c.state} for c in self.clients.values()],
            "participants": [p.name for p in self.participants.values() if p.present],
            "csrcs": {p.name: p.csrc for p in self.participants.values()},
            "outline_lag_ms": self.outline_lag_ms,
            "speech": [dict(s.event) for s in self.speech],
        }

    def mix(self, start: int, pids: set[str] | None) -> tuple[np.ndarray, list[int]]:
        """The FRAME samples from sample `start` on (wall clock) of what the participants in
        `pids` (everyone: None) say, and the CSRCs of those audible in them; events whose last
        sample is in the frame become played."""
        out = np.zeros(FRAME, np.float32)
        audible: list[int] = []
        for s in self.speech:
            if pids is not None and s.event["participant"] not in pids:
                continue
            lo, hi = max(start, s.start), min(start + FRAME, s.end)
            if lo < hi:
                piece = s.samples[lo - s.start:hi - s.start]
                out[lo - start:hi - start] += piece
                # A mixer lists who is talking, not who is scheduled: silence lists nobody.
                csrc = self.participants[s.event["participant"]].csrc
                if csrc not in audible and float(np.sqrt(np.mean(piece * piece))) > AUDIBLE_RMS:
                    audible.append(csrc)
            if start < s.end <= start + FRAME:
                s.event["played"] = True
        return out, audible


class SpeechTrack(MediaStreamTrack):
    """One stream the meeting sends a client: 20 ms frames paced on the wall clock, silence or
    the speech of the participants in `pids` (everyone: None, Teams' mix)."""

    kind = "audio"

    def __init__(self, meeting: Meeting, pids: set[str] | None) -> None:
        super().__init__()
        self.meeting, self.pids = meeting, pids
        self.next: int | None = None  # first sample of the next frame, on the wall clock
        self.csrcs: list[int] = []  # who is audible in the frame returned last

    async def recv(self) -> AudioFrame:
        if self.next is None:
            self.next = round(time.time() * SAMPLE_RATE)
        start, self.next = self.next, self.next + FRAME
        # Like a microphone, a frame goes out once its 20 ms are over (late frames go at once).
        delay = self.next / SAMPLE_RATE - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        samples, self.csrcs = self.meeting.mix(start, self.pids)
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        frame = AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        return frame


def send_with_csrcs(transceiver: RTCRtpTransceiver, track: SpeechTrack) -> None:
    """The sender's RTP packets list who is audible in them (`track.csrcs`) as contributing
    sources. aiortc has no API for CSRCs, so the packet bytes are rewritten between the sender
    and the encryption: the sender hands each serialized packet to its DTLS transport's
    `_send_rtp`, which SRTP-protects and sends it; an instance attribute of that name wraps the
    method for this connection only. The sender encodes a frame and sends its packet right after
    taking it from the track, so `track.csrcs` belongs to that packet (give or take the Opus
    encoder's 20 ms look-ahead). RTCP, and RTP of another SSRC, pass unchanged. The connection
    carries this one transceiver, so its transport is never swapped for a bundled one."""
    transport = transceiver.sender.transport
    send = transport._send_rtp
    ssrc = struct.pack("!L", transceiver.sender._ssrc)

    async def send_rtp(data: bytes) -> None:
        if track.csrcs and not is_rtcp(data) and data[8:12] == ssrc:
            data = with_csrcs(data, track.csrcs)
        await send(data)

    transport._send_rtp = send_rtp  # type: ignore[method-assign]


def with_csrcs(packet: bytes, csrcs: list[int]) -> bytes:
    """An RTP packet with its CSRC list replaced: the first byte is V(2) P(1) X(1) CC(4), the
    CC 32-bit ids follow the 12-byte fixed header, before any header extension."""
    ids = csrcs[:15]
    old = 12 + 4 * (packet[0] & 0x0F)
    return bytes([(packet[0] & 0xF0) | len(ids)]) + packet[1:12] + struct.pack(f"!{len(ids)}L", *ids) + packet[old:]


@dataclass
class Peer:
    """A server-side peer connection carrying one stream to a client's page."""

    pc: RTCPeerConnection
    meeting: Meeting
    cid: str
    pid: str | None  # Meet: whose stream; Teams: None (the mix)


class MockMeetings:
    """The state of every mock meeting and the Starlette app that serves them."""

    def __init__(self) -> None:
        self.meetings: dict[str, Meeting] = {}
        self.peers: dict[str, Peer] = {}
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.app = Starlette(routes=[
            Route("/control/meetings", self.c_create, methods=["POST"]),
            Route("/control/meetings/{mid}", self.c_get, methods=["GET"]),
            Route("/control/meetings/{mid}/{action}", self.c_action, methods=["POST"]),
            Route("/api/{mid}/join", self.p_join, methods=["POST"]),
            Route("/api/{mid}/state", self.p_state, methods=["GET"]),
            Route("/api/{mid}/leave", self.p_leave, methods=["POST"]),
            Route("/api/{mid}/media", self.p_media, methods=["POST"]),
            Route("/api/{mid}/media/{channel}", self.p_answer, methods=["POST"]),
            Route("/static/{name}", self.p_static, methods=["GET"]),
            Route("/meet/{mid}", self.teams_page, methods=["GET"]),
            Route("/{code}", self.meet_page, methods=["GET"]),
        ], lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.close_peers(lambda peer: True)  # the server stops: nothing outlives it

    async def close_peers(self, which: Callable[[Peer], bool]) -> None:
        for channel, peer in list(self.peers.items()):
            if which(peer):
                del self.peers[channel]
                await peer.pc.close()

    async def prune(self) -> None:
        """Close the streams of clients no longer in the call and of Meet participants gone."""
        def gone(peer: Peer) -> bool:
            meeting = peer.meeting
            client = meeting.clients.get(peer.cid)
            if meeting.ended or client is None or client.state != "in":
                return True
            if self.meetings.get(meeting.mid) is not meeting:  # replaced by a new one
                return True
            return peer.pid is not None and not meeting.participants[peer.pid].present
        await self.close_peers(gone)

    # -- control -------------------------------------------------------------------------
    def create(self, mid: str, platform: str = "meet", variant: str = "ask",
               participants: list[str] | tuple[str, ...] = (), outline_lag_ms: int = 0) -> Meeting:
        meeting = Meeting(mid, platform, variant, outline_lag_ms=outline_lag_ms)
        for n, name in enumerate(participants):
            pid = f"spaces/{mid}/devices/{100 + n}"
            meeting.participants[pid] = Participant(pid, name, VOICES[n % len(VOICES)])
        with self._lock:
            self.meetings[mid] = meeting
        return meeting

    async def c_create(self, request: Request) -> Response:
        body = await request.json()
        meeting = self.create(
            body["id"], body.get("platform", "meet"), body.get("variant", "ask"),
            body.get("participants", []), int(body.get("outline_lag_ms", 0)),
        )
        return JSONResponse(meeting.snapshot(), status_code=201)

    async def c_get(self, request: Request) -> Response:
        meeting = self.meetings.get(request.path_params["mid"])
        if meeting is None:
            return JSONResponse({"detail": "no such meeting"}, status_code=404)
        return JSONResponse(meeting.snapshot())

    async def c_action(self, request: Request) -> Response:
        meeting = self.meetings.get(request.path_params["mid"])
        if meeting is None:
            return JSONResponse({"detail": "no such meeting"}, status_code=404)
        body = await request.json() if await request.body() else {}
        action = request.path_params["action"]
        name = body.get("name")

        def clients(state: str) -> list[Client]:
            return [c for c in meeting.clients.values()
                    if c.state == state and (name is None or c.name == name)]

        if action == "admit":
            for client in clients("lobby"):
                client.state = "in"
        elif action == "deny":
            for client in clients("lobby"):
                client.state = "denied"
        elif action == "remove":
            for client in clients("in") + clients("lobby"):
                client.state = "removed"
        elif action == "end":
            meeting.ended = True
            for client in meeting.clients.values():
                if client.state in ("in", "lobby"):
                    client.state = "ended"
        elif action == "leave":
            names = body.get("participants")
            for participant in meeting.participants.values():
                if names is None or participant.name in names:
                    participant.present = False
        elif action == "arrive":
            for participant_name in body["participants"]:
                try:
                    meeting.by_name(participant_name).present = True
                except KeyError:
                    n = len(meeting.participants)
                    pid = f"spaces/{meeting.mid}/devices/{100 + n}"
                    meeting.participants[pid] = Participant(pid, participant_name, VOICES[n % len(VOICES)])
        elif action == "speak":
            participant = meeting.by_name(body["participant"])
            samples = await asyncio.to_thread(_speech, body["text"], participant.voice)
            # A participant's turns follow each other; the page must see the event before it starts.
            start = max([round((time.time() + LEAD_S) * SAMPLE_RATE)]
                        + [s.end for s in meeting.speech if s.event["participant"] == participant.pid])
            if body.get("gap_ms") is not None and meeting.speech:  # right after whoever spoke last
                start = max(start, max(s.end for s in meeting.speech)
                            + round(float(body["gap_ms"]) * SAMPLE_RATE / 1000))
            event = {"seq": next(self._seq), "participant": participant.pid, "name": participant.name,
                     "text": body["text"], "duration_s": round(len(samples) / SAMPLE_RATE, 3),
                     "played": False}
            meeting.speech.append(Speech(event, samples, start))
            return JSONResponse(event)
        else:
            return JSONResponse({"detail": f"unknown action {action}"}, status_code=404)
        await self.prune()
        return JSONResponse(meeting.snapshot())

    # -- pages ---------------------------------------------------------------------------
    async def meet_page(self, request: Request) -> Response:
        code = request.path_params["code"]
        if code == "favicon.ico":
            return Response(status_code=404)
        meeting = self.meetings.get(code)
        if meeting is None or meeting.platform != "meet":
            return HTMLResponse((STATIC / "meet_not_found.html").read_text(), status_code=404)
        label = "Join now" if meeting.variant == "join-now" else "Ask to join"
        page = (STATIC / "meet.html").read_text().replace("{{MEETING}}", code)
        return HTMLResponse(page.replace("{{JOIN_LABEL}}", label))

    async def teams_page(self, request: Request) -> Response:
        mid = request.path_params["mid"]
        meeting = self.meetings.get(mid)
        if meeting is None or meeting.platform != "teams":
            return HTMLResponse((STATIC / "teams_not_found.html").read_text(), status_code=404)
        return HTMLResponse((STATIC / "teams.html").read_text().replace("{{MEETING}}", mid))

    async def p_static(self, request: Request) -> Response:
        path = STATIC / request.path_params["name"]
        if path.suffix != ".js" or not path.is_file():
            return Response(status_code=404)
        return Response(path.read_bytes(), media_type="text/javascript")

    async def p_join(self, request: Request) -> Response:
        meeting = self.meetings.get(request.path_params["mid"])
        if meeting is None:
            return JSONResponse({"detail": "no such meeting"}, status_code=404)
        body = await request.json()
        cid = f"c{next(self._ids)}"
        state = "ended" if meeting.ended else ("in" if meeting.variant == "join-now" else "lobby")
        meeting.clients[cid] = Client(cid, body.get("name") or "Guest", state)
        return JSONResponse({"client": cid, "state": state})

    async def p_state(self, request: Request) -> Response:
        meeting = self.meetings.get(request.path_params["mid"])
        if meeting is None:
            return JSONResponse({"detail": "no such meeting"}, status_code=404)
        client = meeting.clients.get(request.query_params.get("client", ""))
        since = int(request.query_params.get("since", "0"))
        state = client.state if client else "prejoin"
        in_call = state == "in"
        return JSONResponse({
            "state": state,
            "participants": [{"id": p.pid, "name": p.name}
                             for p in meeting.participants.values() if p.present] if in_call else [],
            "speech": [{**{k: v for k, v in s.event.items() if k != "text"},
                        "start_ms": round(s.start * 1000 / SAMPLE_RATE)}
                       for s in meeting.speech if s.event["seq"] > since] if in_call else [],
            "last_seq": meeting.speech[-1].event["seq"] if meeting.speech else 0,
            "outline_lag_ms": meeting.outline_lag_ms,
        })

    async def p_leave(self, request: Request) -> Response:
        meeting = self.meetings.get(request.path_params["mid"])
        body = await request.json()
        if meeting is not None and body.get("client") in meeting.clients:
            client = meeting.clients[body["client"]]
            if client.state in ("in", "lobby"):
                client.state = "left"
            await self.prune()
        return JSONResponse({})

    async def p_media(self, request: Request) -> Response:
        """Offer the page a stream: one participant's (Meet) or the mix of everyone (Teams)."""
        meeting = self.meetings.get(request.path_params["mid"])
        body = await request.json()
        client = meeting.clients.get(body.get("client", "")) if meeting else None
        if meeting is None or client is None or client.state != "in":
            return JSONResponse({"detail": "not in the call"}, status_code=409)
        pid = body.get("participant")
        if pid is not None and pid not in meeting.participants:
            return JSONResponse({"detail": "no such participant"}, status_code=404)
        # No STUN server (aiortc's default is a public one): host candidates on this machine.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        channel = f"m{next(self._ids)}"
        self.peers[channel] = Peer(pc, meeting, client.cid, pid)

        @pc.on("connectionstatechange")
        async def closed() -> None:
            # A page that vanished (browser killed) fails ICE consent checks: drop its stream.
            if pc.connectionState in ("failed", "closed"):
                await self.close_peers(lambda peer: peer.pc is pc)

        track = SpeechTrack(meeting, None if pid is None else {pid})
        transceiver = pc.addTransceiver(track, direction="sendonly")
        if pid is None:  # the mix: its packets say who is in them
            send_with_csrcs(transceiver, track)
        await pc.setLocalDescription(await pc.createOffer())  # gathers the candidates into the SDP
        await self.prune()  # the client may have gone while the candidates were gathered
        if channel not in self.peers:
            return JSONResponse({"detail": "not in the call"}, status_code=409)
        return JSONResponse({"channel": channel, "type": "offer", "sdp": pc.localDescription.sdp})

    async def p_answer(self, request: Request) -> Response:
        peer = self.peers.get(request.path_params["channel"])
        if peer is None:
            return JSONResponse({"detail": "no such stream (closed?)"}, status_code=404)
        body = await request.json()
        await peer.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body.get("type", "answer")))
        return JSONResponse({})


def _speech(text: str, voice: str) -> np.ndarray:
    from asr.synth import synthesize

    pad = np.zeros(int(0.2 * SAMPLE_RATE), np.float32)
    return np.concatenate([pad, synthesize(text, voice, 160), pad])


class MockMeetingServer:
    """MockMeetings served by uvicorn in a thread of the test process."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.meetings = MockMeetings()
        config = uvicorn.Config(self.meetings.app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="mock-meetings")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MockMeetingServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the mock meeting server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
