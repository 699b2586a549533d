"""What a file sent to /v1/audio/transcriptions costs, and what it does to live meetings.

Starts the real ASR server (`asr.server.serve`, tiny.en) in this process on loopback; for each
pace, streams `--live` synthesized meetings at real time (as bots do), and 5 s in, transcribes a
60 s meeting file the way the endpoint does (appliance.file_transcription.transcribe: 16 kHz
float32 at `pace` x real time). Reports per pace: the file's wall time and WER, and the live
streams' completed-segment latency (segment received - its audio's end sent), p50 and max, next
to a run with no file. The load generator shares the server's cores.

    nice -n 10 .venv/bin/python benchmarks/openai_audio.py --paces 5,10,20 --live 4
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from appliance.config import Settings
from appliance.file_transcription import AsrModel, transcribe
from asr import synth
from asr.client import StreamRun, stream_clip
from asr.openai_api import AudioRequest
from asr.server import serve
from asr.wer import wer

FILE_START_S = 5.0


def latencies(run: StreamRun) -> list[float]:
    first_seen: dict[str, float] = {}
    for received in run.segment_messages():
        for segment in received.message["segments"]:
            if segment["completed"]:
                first_seen.setdefault(segment["start"], received.at - run.sent_time(float(segment["end"])))
    return list(first_seen.values())


async def level(port: int, pace: float | None, live: int, file_clip: synth.Clip) -> str:
    url = f"ws://127.0.0.1:{port}"
    streams = [
        asyncio.create_task(stream_clip(url, synth.meeting(4, offset=n).audio, {"uid": f"live-{n}", "language": "en"}))
        for n in range(live)
    ]
    file_part = ""
    if pace is not None:
        await asyncio.sleep(FILE_START_S)
        settings = Settings(asr_host="127.0.0.1", asr_port=port, openai_audio_pace=pace)
        began = time.monotonic()
        transcript = await transcribe(
            settings, AsrModel("tiny.en", False), file_clip.audio,
            AudioRequest("transcribe", "whisper-1", "en", None, "json"),
        )
        took = time.monotonic() - began
        heard = " ".join(s["text"] for s in transcript.segments)
        file_part = (f"file {file_clip.seconds:.0f} s in {took:.1f} s ({file_clip.seconds / took:.1f}x), "
                     f"WER {wer(file_clip.text, heard):.3f}; ")
    runs = await asyncio.gather(*streams)
    lags = [lag for run in runs for lag in latencies(run)]
    live_part = (f"live completed latency p50 {statistics.median(lags):.2f} s, max {max(lags):.2f} s" if lags
                 else "no live streams")
    return f"pace {pace if pace is not None else '-'}: {file_part}{live_part}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paces", default="5,10,20", help="comma-separated paces (x real time)")
    parser.add_argument("--live", type=int, default=4, help="live meetings streamed meanwhile")
    args = parser.parse_args()
    file_clip = synth.meeting()
    async with serve("127.0.0.1", 0) as (server, _):
        port = server.sockets[0].getsockname()[1]
        for pace in [None, *(float(p) for p in args.paces.split(","))]:
            print(await level(port, pace, args.live, file_clip), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
