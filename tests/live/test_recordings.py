"""Recording end to end: a bot streams speech, the meeting ends, the Opus file is served."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import Appliance, bot_token_of, wait_until


def speech(tmp_path: Path, text: str) -> np.ndarray:
    """Speech with known text, as 16 kHz mono float32 (espeak-ng, resampled by sox)."""
    wav, raw = tmp_path / "speech.wav", tmp_path / "speech.f32"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
    subprocess.run(
        ["sox", str(wav), "-r", "16000", "-c", "1", "-e", "float", "-b", "32", "-t", "raw", str(raw)], check=True
    )
    return np.fromfile(raw, dtype="<f4")


def stream_audio(app: Appliance, meeting: dict, samples: np.ndarray) -> None:
    headers = {"Authorization": f"Bearer {bot_token_of(meeting)}"}
    with connect(f"ws://127.0.0.1:{app.port}/internal/bot/audio", additional_headers=headers) as ws:
        for start in range(0, samples.size, 1600):  # 100 ms frames, as a bot sends them
            ws.send(samples[start : start + 1600].tobytes())


def test_recording_is_stored_served_with_ranges_and_deleted(appliance: Appliance, tmp_path: Path) -> None:
    samples = speech(tmp_path, "This meeting is being recorded on the appliance.")
    _, token = appliance.new_user("rec@example.com")
    with appliance.client(token) as client:
        meeting = client.post(
            "/bots", json={"platform": "google_meet", "native_meeting_id": "rec-ordi-ngs", "recording_enabled": True}
        ).json()
        stream_audio(appliance, meeting, samples[: samples.size // 2])
        stream_audio(appliance, meeting, samples[samples.size // 2 :])  # a reconnect appends
        client.delete("/bots/google_meet/rec-ordi-ngs")
        recordings = wait_until(
            lambda: [r for r in client.get("/recordings").json()["recordings"] if r["status"] == "completed"],
            60, what="the recording to be completed",
        )
        assert len(recordings) == 1 and recordings[0]["meeting_id"] == meeting["id"]
        media = recordings[0]["media_files"][0]
        assert media["format"] == "ogg" and media["file_size_bytes"] > 1000
        assert media["duration_seconds"] == pytest.approx(samples.size / 16000, abs=0.05)
        raw_url = f"/recordings/{recordings[0]['id']}/media/{media['id']}/raw"

        whole = client.get(raw_url)
        assert whole.status_code == 200 and whole.headers["content-type"] == "audio/ogg"
        part = client.get(raw_url, headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100
        assert part.headers["content-range"] == f"bytes 0-99/{len(whole.content)}"
        assert part.content == whole.content[:100]
        beyond = client.get(raw_url, headers={"Range": f"bytes={len(whole.content) + 10}-"})
        assert beyond.status_code == 416

        (tmp_path / "got.ogg").write_bytes(whole.content)
        with av.open(str(tmp_path / "got.ogg")) as container:
            decoded = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
        assert decoded.size / 48000 == pytest.approx(samples.size / 16000, abs=0.1)
        assert np.sqrt(np.mean(decoded**2)) > 0.01, "the speech is there, not silence"

        assert client.delete("/meetings/google_meet/rec-ordi-ngs").status_code == 200
        assert client.get("/recordings").json()["recordings"] == []
        assert not (appliance.data_dir / "recordings" / str(recordings[0]["id"])).exists()


def test_meeting_without_recording_refuses_audio(appliance: Appliance) -> None:
    _, token = appliance.new_user("norec@example.com")
    with appliance.client(token) as client:
        meeting = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": "nor-ecor-din"}).json()
        headers = {"Authorization": f"Bearer {bot_token_of(meeting)}"}
        with connect(f"ws://127.0.0.1:{appliance.port}/internal/bot/audio", additional_headers=headers) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        client.delete("/bots/google_meet/nor-ecor-din")
        wait_until(lambda: client.get(f"/meetings/{meeting['id']}").json()["status"] == "completed", 60,
                   what="the bot to leave")


def test_bad_bot_token_is_refused(appliance: Appliance) -> None:
    headers = {"Authorization": "Bearer vmb_forged"}
    with connect(f"ws://127.0.0.1:{appliance.port}/internal/bot/audio", additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
