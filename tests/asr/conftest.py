"""Shared fixtures: the real dev tiny.en model (loaded once) and espeak-ng speech made at test time."""

from __future__ import annotations

import numpy as np
import pytest

from asr import synth
from asr.models import LoadedModel, load_model
from tests.conftest import require_programs


@pytest.fixture(scope="session")
def model() -> LoadedModel:
    return load_model(None)


@pytest.fixture(scope="session")
def conversation() -> synth.Clip:
    """Three turns by different voices with pauses: about 14 s."""
    require_programs(*synth.SPEECH_PROGRAMS)
    return synth.meeting(turns=3)


@pytest.fixture(scope="session")
def sentence() -> synth.Clip:
    """One sentence, no trailing silence: only END_OF_AUDIO can complete it."""
    require_programs(*synth.SPEECH_PROGRAMS)
    text = "Please send me the updated slides after the meeting."
    audio = synth.synthesize(text)
    nonzero = np.flatnonzero(np.abs(audio) > 1e-3)
    return synth.Clip(audio[: nonzero[-1] + 1], text)

