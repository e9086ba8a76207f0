"""Fixtures for real SIP calls on loopback (helpers in sip_support.py)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sip_support import SOUNDS, Hotline


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> Path:
    """Real Russian speech (Asterisk RU, CC-BY-3.0): 'Благодарим за звонок в компанию...', the first 5 s."""
    out = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["sox", str(SOUNDS / "basic-pbx-ivr-main.wav"), str(out), "trim", "0", "5"], check=True)
    return out


@pytest.fixture
def hotline_factory(settings, container):
    started = []

    def start(workers: int = 1, **extra) -> Hotline:
        h = Hotline(settings, workers, **extra)
        started.append(h)
        return h

    yield start
    for h in started:
        h.stop()


@pytest.fixture
def hotline(hotline_factory, org, building):
    return hotline_factory()


