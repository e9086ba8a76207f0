"""Helpers of the transcription tests that reach the journal: an answered call, the recording.stored event the
worker's storing wrote, a transcript awaited in a status, the rq queues worked in burst. Nothing runs at import."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import sqlalchemy as sa

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def answered_call(c, org_id, uuid="u-1"):
    """A call that arrived at T0 from a resident's phone and was answered at once; its id."""
    call_id = c.calls.open_call(org_id=org_id, sip_call_id=f"sip-{uuid}", call_uuid=uuid,
                                from_number="+79035551001", to_number="+74950000000", arrived_at=T0, worker="w0")
    c.calls.answered(call_id, T0)
    return call_id


def stored_event(c, recording_id):
    """The outbox row "recording.stored" of this recording, as the event handler receives it."""
    from journal_api.storage import tables as t

    with c.engine.connect() as conn:
        rows = conn.execute(sa.select(t.outbox).where(t.outbox.c.name == "recording.stored")).all()
    return next(r for r in rows if r.payload["recording_id"] == recording_id)


def wait_transcript(c, call_id, kind="description", statuses=("done", "failed"), timeout=60.0, step=0.1):
    """The call's transcript of this kind once it is in one of ``statuses``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = c.transcripts.find(call_id=call_id, kind=kind)
        if row is not None and row.status in statuses:
            return row
        time.sleep(step)
    raise AssertionError(f"the {kind} transcript of call {call_id} is not {statuses} after {timeout} s")


def work(queues):
    """One rq worker works the queues (high priority first) until they are empty."""
    from rq import SimpleWorker

    SimpleWorker(queues, connection=queues[0].connection).work(burst=True)
