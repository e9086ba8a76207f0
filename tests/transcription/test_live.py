"""The live path (contract C): a SIP worker writes a growing WAV and announces it on hotline:live:<queue>; the
transcriber tails it and the transcript is complete when the segment's .done appears. Over capacity, the call is
left to the rq path as "pending". Real Redis, real whisper, real PostgreSQL; the growing WAV is written here the
way the SIP worker writes it (header sizes 0, PCM appended)."""
from __future__ import annotations

import dataclasses
import json
import struct
import threading
import time
import uuid

import pytest
from redis import Redis

from journal_api.domain.events import Actor
from transcription.live import LiveTranscriber

from asr_support import read_pcm, russian_wav, silence
from journal_support import T0, answered_call, stored_event, wait_transcript, work

TEXT = "Здравствуйте. В подъезде пахнет газом. Улица Ленина, дом десять, корпус два, квартира пять."


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    pcm, rate = read_pcm(russian_wav(tmp_path_factory.mktemp("live") / "s.wav", TEXT))
    assert rate == 8000
    return pcm


def grow(path, pcm: bytes, *, speed: float = 4.0, chunk_s: float = 0.1, done: bool = True) -> None:
    """Write like the SIP worker: a 44-byte header whose sizes are 0, then PCM as it arrives, then <path>.done."""
    header = b"RIFF" + struct.pack("<I", 0) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2,
                                                                            16) + b"data" + struct.pack("<I", 0)
    step = int(8000 * chunk_s) * 2
    with open(path, "wb") as fh:
        fh.write(header)
        for i in range(0, len(pcm), step):
            fh.write(pcm[i:i + step])
            fh.flush()
            time.sleep(chunk_s / speed)
    if done:
        with open(str(path) + ".done", "w") as fh:
            json.dump({"duration_s": len(pcm) / 16000, "reason": "silence"}, fh)


def _entry(c, org_id, tmp_path, name="description"):
    u = uuid.uuid4().hex[:12]
    call_id = answered_call(c, org_id, u)
    return {"call_uuid": u, "call_id": call_id, "org_id": org_id, "name": name,
            "path": str(tmp_path / f"{u}-{name}.wav"), "sample_rate": 8000, "started_at": T0.isoformat()}


@pytest.fixture
def live(container, tsettings, whisper):
    lt = LiveTranscriber(container, dataclasses.replace(tsettings, live_queue=f"t-{uuid.uuid4().hex[:8]}",
                                                        live_stall_s=3.0, capacity=1), engine_name="whisper")
    yield lt
    lt.stop.set()
    lt.join(5)


def test_an_announced_growing_wav_is_transcribed_while_it_grows_and_fills_the_request(
        container, org, building, tmp_path, speech, live):
    entry = _entry(container, org.id, tmp_path)
    reg = container.calls.register_from_call(entry["call_id"])
    container.calls.ended(entry["call_id"], at=T0, status="answered", ivr_path=["main_menu", "category_menu",
                                                                                "cat_other"], digits=[])
    redis = Redis.from_url(container.settings.redis_url)
    consumer = threading.Thread(target=live.run, args=(redis,), daemon=True)
    consumer.start()
    redis.rpush(live.list_key, json.dumps(entry))  # announced as the segment starts, before any audio
    writer = threading.Thread(target=grow, args=(entry["path"], speech + silence(1.0)), daemon=True)
    writer.start()
    time.sleep(1.0)
    assert container.transcripts.find(call_id=entry["call_id"], kind="description").status == "live"
    writer.join()
    row = wait_transcript(container, entry["call_id"])
    live.join(10)  # the fill follows the transcript's "done" in the same thread
    assert row.status == "done" and "газом" in row.text.lower()
    assert row.words[-1]["end"] <= len(speech) / 16000 + 1.5
    req = container.requests.get(org.id, reg["number"], Actor.system("test"))
    assert (req.work_type, req.urgency, req.building.code) == ("gas", "emergency", "B-1")
    assert live.timings and live.timings[0]["ready_after_done_s"] >= 0
    assert redis.llen(live.list_key) == 0
    live.stop.set()
    consumer.join(3)
    redis.delete(live.list_key)
    redis.close()


def _store(c, entry, path):
    """What the SIP worker does at the end of the call: the recording is stored, recording.stored is handled."""
    from transcription.pipeline import on_recording_stored

    rec_id = c.calls.attach_recording(call_id=entry["call_id"], kind="description", path=path)
    on_recording_stored(c, stored_event(c, rec_id))
    return rec_id


def _full_wav(tmp_path, pcm):
    from asr_support import write_wav

    return write_wav(tmp_path / f"stored-{uuid.uuid4().hex[:6]}.wav", pcm)


def test_over_capacity_a_call_is_left_pending_and_then_transcribed_from_the_queue(container, org, tmp_path, speech,
                                                                                 live, rq_queues):
    first, second = _entry(container, org.id, tmp_path), _entry(container, org.id, tmp_path)
    writer = threading.Thread(target=grow, args=(first["path"], speech), kwargs={"speed": 2.0}, daemon=True)
    writer.start()
    assert live.handle(first) == "live"
    assert live.handle(second) == "pending"  # capacity 1
    assert container.transcripts.find(call_id=second["call_id"], kind="description").status == "pending"
    writer.join()
    assert wait_transcript(container, first["call_id"]).status == "done"
    _store(container, second, _full_wav(tmp_path, speech))
    assert rq_queues[0].count == 1
    work(rq_queues)
    row = container.transcripts.find(call_id=second["call_id"], kind="description")
    assert row.status == "done" and "газом" in row.text.lower() and row.recording_id is not None


def test_the_text_so_far_is_saved_on_the_transcript_while_the_caller_speaks(container, org, tmp_path, speech, live):
    entry = _entry(container, org.id, tmp_path)
    live.handle(entry)
    seen = []
    writer = threading.Thread(target=grow, args=(entry["path"], speech + silence(1.5) + speech + silence(1.5)),
                              kwargs={"speed": 1.0}, daemon=True)
    writer.start()
    while writer.is_alive():
        row = container.transcripts.find(call_id=entry["call_id"], kind="description")
        if row.status == "live" and row.text and (not seen or seen[-1] != row.text):
            seen.append(row.text)
        time.sleep(0.2)
    row = wait_transcript(container, entry["call_id"])
    assert seen, "no partial text was saved while the stream was live"
    assert len(seen[0]) < len(row.text) and "газом" in seen[0].lower()  # the first sentence before the end
    assert row.status == "done"


def test_a_stream_that_stops_growing_without_done_goes_to_the_queue_and_is_transcribed_from_the_recording(
        container, org, tmp_path, speech, live, rq_queues):
    entry = _entry(container, org.id, tmp_path)
    reg = container.calls.register_from_call(entry["call_id"])
    grow(entry["path"], speech[:16000], speed=20.0, done=False)
    live.handle(entry)
    row = wait_transcript(container, entry["call_id"], statuses=("pending",), timeout=30)
    assert row.error == "распознаётся заново по сохранённой записи (запись оборвалась)"
    assert container.requests.history(org.id, reg["number"], Actor.system("t"))  # no failure comment:
    assert not [h for h in container.requests.history(org.id, reg["number"], Actor.system("t"))
                if h.kind == "comment"]
    _store(container, entry, _full_wav(tmp_path, speech))  # the worker stores the whole description later
    work(rq_queues)
    row = container.transcripts.find(call_id=entry["call_id"], kind="description")
    assert row.status == "done" and "газом" in row.text.lower() and row.error is None


def test_streams_in_progress_when_the_transcriber_stops_are_transcribed_from_the_stored_recording(
        container, org, tmp_path, speech, live, rq_queues):
    entry = _entry(container, org.id, tmp_path)
    live.handle(entry)
    grow(entry["path"], speech[:8000], speed=20.0, done=False)
    rec_id = _store(container, entry, _full_wav(tmp_path, speech))  # stored while live (a race with the worker)
    assert rq_queues[0].count == 0  # being transcribed live: the stored event only linked it
    live.stop.set()
    live.join(10)
    row = container.transcripts.find(call_id=entry["call_id"], kind="description")
    assert (row.status, row.recording_id) == ("pending", rec_id)
    assert row.error == "распознаётся заново по сохранённой записи (распознавание остановлено)"
    assert rq_queues[0].count == 1
    work(rq_queues)
    assert container.transcripts.get(row.id).status == "done"
