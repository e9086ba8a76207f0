"""Through the real SIP path: the pjsua2 test caller speaks a Russian description to `hotline sip`; the SIP worker
writes the growing WAV and announces it on Redis; the live transcriber (here, in this process) has the transcript
when the segment ends, and the request the IVR registered gets its empty fields from it."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from redis import Redis

from ivr_flows.prompts import journal_text
from journal_api.domain.events import Actor
from transcription.live import LiveTranscriber

from asr_support import russian_wav

sys.path.insert(0, str(Path(__file__).parents[1] / "telephony"))
from sip_support import Hotline, caller, stored_call  # noqa: E402

PLACEHOLDER = journal_text("description_pending")
SAID = "Здравствуйте. На кухне сильно пахнет газом. Улица Ленина, дом десять, корпус два."


@pytest.mark.e2e
def test_a_call_through_the_sip_workers_is_transcribed_live_and_fills_the_request(
        settings, container, org, building, tsettings, whisper, tmp_path):
    speech = russian_wav(tmp_path / "said.wav", SAID)
    live = LiveTranscriber(container, tsettings, engine_name="whisper")
    redis = Redis.from_url(settings.redis_url)
    consumer = threading.Thread(target=live.run, args=(redis,), daemon=True)
    consumer.start()
    hotline = Hotline(settings, 1)
    try:
        result = caller(hotline.uri, "--from", "sip:+79161234567@127.0.0.1", "--dtmf", "2@2,1@4.5,12#@7",
                        "--play", speech, "--timeout", 60)
        assert result["connected"], (result, hotline.logs())
        (call,) = stored_call(container, kinds=("call", "description"))
        deadline = time.monotonic() + 60
        row = None
        while time.monotonic() < deadline:
            row = container.transcripts.find(call_id=call["id"], kind="description")
            if row is not None and row.status in ("done", "failed") and live.timings:
                break
            time.sleep(0.2)
        live.join(10)
        assert row is not None and row.status == "done", (row, hotline.logs())
        assert "газом" in row.text.lower() and row.words
        req = container.requests.get(org.id, 1, Actor.system("test"))
        assert req.id == call["request_id"]
        hist = container.requests.history(org.id, 1, Actor.system("test"))
        asr = [(h.field, h.old_value, h.new_value) for h in hist if h.channel == "asr" and h.kind == "field"]
        # The machine only ever filled empty fields (or raised the urgency), whatever the caller keyed in.
        for field, old, new in asr:
            assert old in (None, "other", "normal") or (field == "description" and old == PLACEHOLDER), (field, old)
        if "".join(call["digits"]) == "2112#":  # the caller keyed water and apartment 12: kept
            assert req.work_type == "water" and req.apartment == 12, asr
        assert req.urgency == "emergency"  # raised by the gas smell
        assert "газом" in req.description.lower()  # the IVR's placeholder replaced by what was said
    finally:
        live.stop.set()
        consumer.join(3)
        hotline.stop()
        redis.delete(live.list_key)
        redis.close()
