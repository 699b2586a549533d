"""Mock Google Meet and Microsoft Teams meetings on loopback, driven by a test-control API.

The pages show the cues of the real ones (docs: /work/shared/platform-cues.md): the same
accessible names, texts and data attributes, so the bot meets the shapes it meets in production.
Remote participants speak synthesized speech (espeak-ng) over real WebRTC peer connections made
inside the page: a sender RTCPeerConnection per audio stream plays AudioBuffers through a
MediaStreamAudioDestinationNode, a receiver RTCPeerConnection gets the track and feeds an
<audio> element. Meet has one <audio> per remote participant; Teams one mixed stream.

Meeting pages
    GET  /{code}                       Google Meet page (any code; unknown -> "Meeting not found")
    GET  /meet/{id}?p=...              Teams page (unknown -> the "couldn't find" page)
    POST /api/{id}/join {name}         the page asks to join -> {client, state}
    GET  /api/{id}/state?client=c      what the page shows now (polled every 250 ms)
    POST /api/{id}/leave {client}
    POST /api/{id}/played {seq}        the page finished playing a speech event
    GET  /api/audio/{n}                float32 LE 16 kHz mono samples of speech event n

Test control (JSON)
    POST /control/meetings {id, platform: meet|teams, variant: ask|join-now, participants: [names]}
    GET  /control/meetings/{id}        {lobby, in_call, clients: [{name, state}], participants}
    POST /control/meetings/{id}/admit {name?}   /deny {name?}   /remove {name?}   /end
    POST /control/meetings/{id}/speak {participant, text}  -> {seq, duration_s}
    POST /control/meetings/{id}/leave {participants?: [names]}  (all remote ones by default)
    POST /control/meetings/{id}/arrive {participants: [names]}
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

STATIC = Path(__file__).parent / "static"
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp")
SAMPLE_RATE = 16000


@dataclass
class Participant:
    pid: str
    name: str
    voice: str
    present: bool = True


@dataclass
class Client:
    """A browser that opened the meeting page and asked to join (the bot)."""

    cid: str
    name: str
    state: str  # lobby | in | denied | removed | left | ended


@dataclass
class Meeting:
    mid: str
    platform: str
    variant: str
    participants: dict[str, Participant] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    speech: list[dict[str, Any]] = field(default_factory=list)
    ended: bool = False

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
            "speech": [{k: v for k, v in s.items() if k != "samples"} for s in self.speech],
        }


class MockMeetings:
    """The state of every mock meeting and the Starlette app that serves them."""

    def __init__(self) -> None:
        self.meetings: dict[str, Meeting] = {}
        self.audio: dict[int, bytes] = {}
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.app = Starlette(routes=[
            Route("/control/meetings", self.c_create, methods=["POST"]),
            Route("/control/meetings/{mid}", self.c_get, methods=["GET"]),
            Route("/control/meetings/{mid}/{action}", self.c_action, methods=["POST"]),
            Route("/api/audio/{n:int}", self.p_audio, methods=["GET"]),
            Route("/api/{mid}/join", self.p_join, methods=["POST"]),
            Route("/api/{mid}/state", self.p_state, methods=["GET"]),
            Route("/api/{mid}/leave", self.p_leave, methods=["POST"]),
            Route("/api/{mid}/played", self.p_played, methods=["POST"]),
            Route("/static/{name}", self.p_static, methods=["GET"]),
            Route("/meet/{mid}", self.teams_page, methods=["GET"]),
            Route("/{code}", self.meet_page, methods=["GET"]),
        ])

    # -- control -------------------------------------------------------------------------
    def create(self, mid: str, platform: str = "meet", variant: str = "ask",
               participants: list[str] | tuple[str, ...] = ()) -> Meeting:
        meeting = Meeting(mid, platform, variant)
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
            body.get("participants", []),
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
            seq = next(self._seq)
            self.audio[seq] = samples.astype("<f4").tobytes()
            event = {"seq": seq, "participant": participant.pid, "name": participant.name,
                     "text": body["text"], "duration_s": round(len(samples) / SAMPLE_RATE, 3),
                     "played": False}
            meeting.speech.append(event)
            return JSONResponse(event)
        else:
            return JSONResponse({"detail": f"unknown action {action}"}, status_code=404)
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
            "speech": [{k: v for k, v in s.items() if k != "text"}
                       for s in meeting.speech if s["seq"] > since] if in_call else [],
            "last_seq": meeting.speech[-1]["seq"] if meeting.speech else 0,
        })

    async def p_leave(self, request: Request) -> Response:
        meeting = self.meetings.get(request.path_params["mid"])
        body = await request.json()
        if meeting is not None and body.get("client") in meeting.clients:
            client = meeting.clients[body["client"]]
            if client.state in ("in", "lobby"):
                client.state = "left"
        return JSONResponse({})

    async def p_played(self, request: Request) -> Response:
        """The page finished playing speech event `seq` (tests wait for it between turns)."""
        meeting = self.meetings.get(request.path_params["mid"])
        body = await request.json()
        for event in meeting.speech if meeting else []:
            if event["seq"] == body.get("seq"):
                event["played"] = True
        return JSONResponse({})

    async def p_audio(self, request: Request) -> Response:
        data = self.audio.get(request.path_params["n"])
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="application/octet-stream")


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
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="mock-meetings")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MockMeetingServer:
        self._thread.start()
        import time

        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the mock meeting server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
