"""Streaming Whisper server (WhisperLive protocol) and file transcription for Vomeet."""

import os

# ONNX Runtime (the Silero VAD's) uploads usage telemetry to mobile.events.data.microsoft.com
# on Linux too (1.29+) unless this is set before it is imported; every import of it here goes
# through this package. The box sends nothing out (docs/egress.md; tests/egress found this).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
