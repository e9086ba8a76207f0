"""From audio to a finished transcript in the journal: used by the rq job, the live transcriber and the sweeper.

The rq path: ``recording.stored`` (outbox) -> :func:`on_recording_stored` opens a pending transcript and enqueues
:func:`transcribe_recording_job` on the ``<queue>-transcribe`` queue (descriptions, voicemail) or the lower-priority
``<queue>-transcribe-low`` (whole calls: ``[transcription] slow_kinds``), which the ``hotline transcriber`` process
works in that order (the model stays loaded there). Job ids are ``<queue>-transcribe-<recording id>``: a second
enqueue of the same recording is a no-op, and a job that finds its transcript done does nothing. The job's timeout
grows with the recording's duration (:meth:`TranscriptionSettings.job_timeout`)."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from rq.timeouts import JobTimeoutException

from journal_api.service.transcripts import FILLING_KINDS, bare_reason

from .audio import STATUS_PREFIX, AudioError
from .engine import get_engine
from .extract import FIELDS, Registry, extract
from .settings import TranscriptionSettings, load

log = logging.getLogger(__name__)
REGISTRY_TTL_S = 60.0
_registries: dict[int, tuple[float, Registry]] = {}
_reg_lock = threading.Lock()
_full_scans: dict[str, float] = {}  # queue name -> when the sweeper last looked at every recording


# Notes and statuses the dispatcher sees (after "распознано: " / "ожидает распознавания: " / "не удалось
# распознать: ").
NOTES = {"truncated": "файл записи обрывается, распознано до места обрыва"}
REQUEUED = "распознаётся заново по сохранённой записи ({})"
LIVE_INTERRUPTED = ("распознавание остановлено", "запись оборвалась", "запись не поступила")
TIMED_OUT = "распознавание не уложилось в отведённое время ({} с)"
NO_TRANSCRIBER = "сервис распознавания не запущен, запись ждёт в очереди"


def queue_name(container) -> str:
    return f"{container.settings.queue_name}-transcribe"


def low_queue_name(container) -> str:
    return f"{queue_name(container)}-low"


def queue_for(container, kind: str | None, settings: TranscriptionSettings) -> str:
    return low_queue_name(container) if kind in settings.slow_kind_list else queue_name(container)


def registry_for(container, org_id: int) -> Registry:
    with _reg_lock:
        hit = _registries.get(org_id)
        if hit and time.monotonic() - hit[0] < REGISTRY_TTL_S:
            return hit[1]
    reg = Registry.from_database(container.engine, org_id)
    with _reg_lock:
        _registries[org_id] = (time.monotonic(), reg)
    return reg


def facts_of(text: str, registry: Registry | None) -> dict:
    """The extraction as stored: {field: {"value", "confidence"}}, plus building_pk (the journal's row id)."""
    got = extract(text, registry)
    facts = {name: {"value": got[name], "confidence": got["confidence"][name]} for name in FIELDS}
    if "building_pk" in got:
        facts["building_pk"] = {"value": got["building_pk"], "confidence": got["confidence"]["building_id"]}
    facts["emergency_cues"] = got.get("emergency_cues", [])
    return facts


def finish(container, transcript_id: int, result: dict, org_id: int) -> list[str]:
    """Store a finished transcript with its facts, and fill the request. A whole call's transcript gets no facts:
    it holds the IVR's prompts and the dispatcher's voice too (see FILLING_KINDS)."""
    kind = container.transcripts.get(transcript_id).kind
    facts = facts_of(result.get("text", ""), registry_for(container, org_id)) if kind in FILLING_KINDS else None
    notes = [NOTES.get(n, n) for n in result.get("notes") or []]
    if notes:
        log.warning("transcript %s: %s", transcript_id, ", ".join(result.get("notes") or []))
        result = {**result, "status_note": "; ".join(notes)}
    return container.transcripts.complete(transcript_id, result, facts)


def fall_back_to_queue(container, transcript_id: int, reason: str) -> None:
    """A live stream that could not finish (stopped, stalled, crashed): the transcript goes back to "pending" and
    is transcribed from the stored recording: now when it is stored already, else when ``recording.stored``
    arrives (or the sweeper finds it)."""
    svc = container.transcripts
    svc.requeue(transcript_id, REQUEUED.format(reason))
    row = svc.get(transcript_id)
    if row.recording_id is None and row.call_id is not None:
        rec_id = _recording_of_call(container, row.call_id, row.kind)
        if rec_id is not None:
            svc.link(transcript_id, recording_id=rec_id)
            row = svc.get(transcript_id)
    if row.recording_id is not None:
        enqueue(container, row.recording_id)


def _status(exc: Exception) -> str:
    if isinstance(exc, AudioError):
        return exc.status
    return STATUS_PREFIX + "внутренняя ошибка распознавания"


# -- the rq path ---------------------------------------------------------------------------------------------------
def recording_row(container, recording_id: int):
    from journal_api.storage import tables_calls as tc

    with container.engine.connect() as conn:
        return conn.execute(sa.select(tc.recordings).where(tc.recordings.c.id == recording_id)).one_or_none()


def transcribe_recording(container, recording_id: int, settings: TranscriptionSettings | None = None,
                         engine_name: str | None = None, model: str | None = None) -> str:
    """Transcribe a stored recording (idempotent). Returns the transcript's final status."""
    settings = settings or load()
    rec = recording_row(container, recording_id)
    if rec is None:
        raise LookupError(f"recording {recording_id} does not exist")
    svc = container.transcripts
    request_id = rec.request_id or (svc.request_of_call(rec.call_id) if rec.call_id else None)
    tid = svc.open(org_id=rec.org_id, kind=rec.kind, call_id=rec.call_id, recording_id=rec.id,
                   request_id=request_id)
    row = svc.get(tid)
    if row.status == "done":
        svc.fill_request(tid)
        return "done"
    if row.status == "failed":
        return "failed"
    if svc.started(tid) > settings.max_attempts:
        svc.fail(tid, STATUS_PREFIX + "превышено число попыток")
        return "failed"
    work = tempfile.mkdtemp(prefix="hotline-asr-")
    try:
        path = os.path.join(work, "audio.wav")
        with container.blobs.open(rec.blob_key) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        try:
            result = get_engine(settings, engine_name, model=model).transcribe(path)
        except AudioError as exc:
            log.warning("recording %s: %s", recording_id, exc)
            svc.fail(tid, exc.status)
            return "failed"
        except JobTimeoutException:
            log.error("recording %s (%.0f s): the job's timeout of %d s ran out", recording_id, rec.duration_s,
                      settings.job_timeout(rec.duration_s))
            svc.fail(tid, STATUS_PREFIX + TIMED_OUT.format(settings.job_timeout(rec.duration_s)))
            raise
        finish(container, tid, result.as_dict(), rec.org_id)
        return "done"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def transcribe_recording_job(recording_id: int) -> str:
    from journal_api.jobs import _get_container

    return transcribe_recording(_get_container(), recording_id)


def enqueue(container, recording_id: int, settings: TranscriptionSettings | None = None) -> str | None:
    """Queue the recording's job (on the low queue for slow kinds), its timeout scaled to its duration. Returns the
    queue's name, or None when the job is already waiting or running."""
    from redis import Redis
    from rq import Queue

    settings = settings or load()
    rec = recording_row(container, recording_id)
    name = queue_for(container, rec.kind if rec is not None else None, settings)
    redis = Redis.from_url(container.settings.redis_url)
    q = Queue(name, connection=redis)
    job_id = f"{queue_name(container)}-{recording_id}"
    existing = q.fetch_job(job_id)
    if existing is not None and existing.get_status(refresh=True) in ("queued", "started", "deferred", "scheduled"):
        return None
    if existing is not None:
        existing.delete()
    q.enqueue_call(transcribe_recording_job, args=(recording_id,), job_id=job_id,
                   timeout=settings.job_timeout(rec.duration_s if rec is not None else None),
                   result_ttl=3600, failure_ttl=7 * 24 * 3600)
    return name


def on_recording_stored(container, outbox_row) -> None:
    """Outbox handler: every recording of the configured kinds gets a transcript. One done live only gets its
    links (and fills the request); one being recognised live is linked; one that failed live before its recording
    was stored (an interrupted stream, an older version's status) is transcribed again from the recording."""
    data = outbox_row.payload or {}
    settings = load()
    kind = data.get("kind")
    if kind not in settings.kind_list:
        return
    svc = container.transcripts
    recording_id, call_id = data.get("recording_id"), data.get("call_id")
    request_id = data.get("request_id") or (svc.request_of_call(call_id) if call_id else None)
    existing = svc.find(call_id=call_id, kind=kind, recording_id=recording_id)
    retry = existing is not None and existing.status == "failed" and existing.recording_id is None and \
        bare_reason(existing.error or "") in LIVE_INTERRUPTED
    if existing is not None and existing.status in ("done", "live", "failed"):
        svc.link(existing.id, recording_id=recording_id if existing.recording_id is None else None,
                 request_id=request_id if existing.request_id is None else None)
        if existing.status == "done":
            svc.fill_request(existing.id)
        if not retry:
            return
        svc.requeue(existing.id, REQUEUED.format(bare_reason(existing.error or "")))
    svc.open(org_id=outbox_row.org_id, kind=kind, call_id=call_id, recording_id=recording_id,
             request_id=request_id)
    enqueue(container, recording_id, settings)


def sweep(container, settings: TranscriptionSettings | None = None) -> int:
    """Nothing waits forever, nothing is left out (every 60 s, from the worker):
    - a transcript pending or live for longer than ``pending_timeout_min`` is enqueued again when its recording is
      stored, else failed once its attempts are spent or the audio never came; one whose job still waits because no
      transcriber works the queue gets a note saying so (it is transcribed as soon as one runs);
    - a stored recording of a configured kind with no transcript at all (stored before transcription was installed,
      or its event lost) gets one and is enqueued.
    Failed transcripts are left alone: their status is final. Returns how many transcripts it acted on."""
    settings = settings or load()
    svc = container.transcripts
    now = container.clock()
    n = 0
    listening = None
    for row in svc.stale(timedelta(minutes=settings.pending_timeout_min), now):
        n += 1
        if row.recording_id is None and row.call_id is not None:
            rec_id = _recording_of_call(container, row.call_id, row.kind)
            if rec_id is not None:
                svc.link(row.id, recording_id=rec_id)
                row = svc.get(row.id)
        if row.recording_id is not None and row.attempts < settings.max_attempts:
            svc.open(org_id=row.org_id, kind=row.kind, call_id=row.call_id, recording_id=row.recording_id,
                     status="pending")
            queued = enqueue(container, row.recording_id, settings)
            if listening is None:
                listening = transcriber_running(container)
            if not listening:
                log.warning("transcript %s waits in %s: no transcriber works the queue", row.id,
                            queued or queue_for(container, row.kind, settings))
                svc.note(row.id, NO_TRANSCRIBER)
        else:
            reason = "запись не поступила" if row.recording_id is None else "превышено число попыток"
            svc.fail(row.id, STATUS_PREFIX + reason)
    for rec in _untranscribed(container, settings, now):
        n += 1
        request_id = svc.request_of_call(rec.call_id) if rec.call_id else None
        svc.open(org_id=rec.org_id, kind=rec.kind, call_id=rec.call_id, recording_id=rec.id, request_id=request_id)
        enqueue(container, rec.id, settings)
    return n


def _untranscribed(container, settings: TranscriptionSettings, now) -> list:
    """Recordings without a transcript: those of the last day on every sweep (an index range), all of them on
    the first sweep of a process and then every ``orphan_full_scan_h`` (a scan of the whole table)."""
    key = queue_name(container)
    full = time.monotonic() - _full_scans.get(key, float("-inf")) >= settings.orphan_full_scan_h * 3600
    rows = container.transcripts.untranscribed(settings.kind_list, timedelta(minutes=2), now,
                                               since=None if full else now - timedelta(hours=24))
    if full:
        _full_scans[key] = time.monotonic()
    return rows


def transcriber_running(container) -> bool:
    """Whether an rq worker (``hotline transcriber``) listens on the transcription queue."""
    from redis import Redis
    from rq import Worker

    redis = Redis.from_url(container.settings.redis_url)
    name = queue_name(container)
    return any(name in w.queue_names() for w in Worker.all(connection=redis))


def _recording_of_call(container, call_id: int, kind: str) -> int | None:
    from journal_api.storage import tables_calls as tc

    r = tc.recordings.c
    with container.engine.connect() as conn:
        return conn.execute(sa.select(r.id).where(r.call_id == call_id, r.kind == kind).order_by(r.id.desc())
                            ).scalar()
