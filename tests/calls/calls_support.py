"""Helpers of the calls tests (imported by name: pytest puts this folder on sys.path)."""
from __future__ import annotations

import wave
from datetime import datetime, timezone

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def write_wav(path, seconds: float, *, rate: int = 8000, value: int = 1000) -> str:
    frames = int(seconds * rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(int(value).to_bytes(2, "little", signed=True) * frames)
    return str(path)


def open_call(c, org_id, *, uuid="u-1", caller="+79035551001", at=T0):
    call_id = c.calls.open_call(org_id=org_id, sip_call_id=f"sip-{uuid}", call_uuid=uuid, from_number=caller,
                                to_number="+74950000000", arrived_at=at, worker="w0")
    c.calls.answered(call_id, at)
    return call_id
