"""faster-whisper: the Silero VAD model (assets/silero_vad_v6.onnx) is a package data file."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("faster_whisper")
