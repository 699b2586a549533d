"""Streaming Whisper server (WhisperLive protocol) and file transcription for Vomeet."""
