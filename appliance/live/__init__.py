"""The live transcript pipeline: segments in from ASR streams, out to WebSocket subscribers."""
