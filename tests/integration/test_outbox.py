"""The outbox on real PostgreSQL, Redis and rq: committed events become jobs, a worker handles each row once,
a failing handler leaves the row for a retry, and the relay re-enqueues unhandled rows whose job does not exist."""
from __future__ import annotations

from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from rq import Queue, SimpleWorker
from rq.job import JobStatus

from journal_api import jobs
from journal_api.bootstrap import bootstrap
from journal_api.domain.events import Actor
from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t

DISPATCHER = Actor(kind="staff", role="dispatcher", name="Петрова А.С.")
NOBODY_LISTENS = "redis://127.0.0.1:1/0"  # a closed port: Redis is down


def _clear(queue: Queue) -> None:
    """Remove this session's queue jobs and their registries (outbox ids, hence job ids, restart in every test)."""
    registries = (queue.failed_job_registry, queue.finished_job_registry, queue.started_job_registry)
    ids = set(queue.get_job_ids()).union(*(r.get_job_ids() for r in registries))
    for job_id in ids:
        job = queue.fetch_job(job_id)
        if job is not None:
            job.delete()
    queue.empty()


@pytest.fixture
def queue(redis_url, queue_name):
    conn = redis.Redis.from_url(redis_url)
    q = Queue(queue_name, connection=conn)
    _clear(q)
    yield q
    _clear(q)
    conn.close()


@pytest.fixture
def rq_container(container, queue):
    """The production wiring: the real RQPublisher on this session's Redis db and queue."""
    c = bootstrap(container.settings, engine=container.engine)
    assert isinstance(c.publisher, jobs.RQPublisher)
    jobs.set_container(c)
    yield c
    jobs.set_container(None)
    c.publisher.queue.connection.close()


@pytest.fixture
def handlers(monkeypatch):
    """Handlers subscribed in a test are gone after it (and handlers of other modules do not run here)."""
    monkeypatch.setattr(jobs, "_HANDLERS", {})


class Counting:
    def __init__(self, fail_with: Exception | None = None):
        self.rows, self.fail_with = [], fail_with

    def __call__(self, container, row) -> None:
        self.rows.append(row)
        if self.fail_with is not None:
            raise self.fail_with


def _register(c, org):
    return c.requests.register(org.id, DISPATCHER, NewRequest(description="Нет воды", work_type="water"))


def _outbox(c, request_id) -> list:
    with c.engine.connect() as conn:
        return conn.execute(sa.select(t.outbox).where(t.outbox.c.request_id == request_id)
                            .order_by(t.outbox.c.id)).all()


def _relay(c, **kwargs) -> int:
    return jobs.relay_outbox(c.engine, c.publisher, older_than=timedelta(0), **kwargs)


def _work(queue: Queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_a_committed_event_becomes_one_job_named_after_its_outbox_row(rq_container, org, queue):
    request = _register(rq_container, org)
    [row] = _outbox(rq_container, request.id)
    assert row.name == "request.registered" and row.handled_at is None and row.attempts == 0
    assert queue.get_job_ids() == [jobs.job_id(queue.name, row.id)]
    job = queue.fetch_job(jobs.job_id(queue.name, row.id))
    assert (job.func_name, job.args) == ("journal_api.jobs.handle_outbox", (row.id,))


def test_a_worker_runs_the_handlers_and_marks_the_row_handled(rq_container, org, queue, handlers):
    counting, everything = Counting(), Counting()
    jobs.subscribe("request.registered", counting)
    jobs.subscribe("*", everything)
    request = _register(rq_container, org)
    _work(queue)
    [row] = _outbox(rq_container, request.id)
    assert row.handled_at is not None and row.attempts == 1 and row.last_error is None
    assert [r.id for r in counting.rows] == [r.id for r in everything.rows] == [row.id]
    assert counting.rows[0].payload["number"] == request.number
    job = queue.fetch_job(jobs.job_id(queue.name, row.id))
    assert job.get_status() == JobStatus.FINISHED and job.return_value() == "handled"


def test_running_the_same_outbox_job_twice_calls_the_handler_once(rq_container, org, queue, handlers):
    counting = Counting()
    jobs.subscribe("request.registered", counting)
    request = _register(rq_container, org)
    [row] = _outbox(rq_container, request.id)
    _work(queue)
    rq_container.publisher.publish([row.id])  # published again, e.g. by a relay that raced the commit
    assert queue.get_job_ids() == [jobs.job_id(queue.name, row.id)]
    _work(queue)
    assert len(counting.rows) == 1
    assert queue.fetch_job(jobs.job_id(queue.name, row.id)).return_value() == "already handled"
    assert _outbox(rq_container, request.id)[0].attempts == 1


def test_a_row_published_twice_before_a_worker_runs_is_handled_once(rq_container, org, queue, handlers):
    counting = Counting()
    jobs.subscribe("request.registered", counting)
    request = _register(rq_container, org)
    [row] = _outbox(rq_container, request.id)
    rq_container.publisher.publish([row.id])
    _work(queue)
    assert [r.id for r in counting.rows] == [row.id]
    assert _outbox(rq_container, request.id)[0].attempts == 1


def test_a_failing_handler_leaves_the_row_unhandled_and_the_job_failed_for_a_retry(rq_container, org, queue,
                                                                                   handlers):
    flaky = Counting(fail_with=RuntimeError("SMS gateway is down"))
    jobs.subscribe("request.registered", flaky)
    request = _register(rq_container, org)
    _work(queue)
    [row] = _outbox(rq_container, request.id)
    job_id = jobs.job_id(queue.name, row.id)
    assert row.handled_at is None and row.attempts == 1
    assert "SMS gateway is down" in row.last_error
    job = queue.fetch_job(job_id)
    assert job.get_status() == JobStatus.FAILED
    assert job_id in queue.failed_job_registry.get_job_ids()
    assert "SMS gateway is down" in job.latest_result().exc_string

    flaky.fail_with = None  # the gateway is back
    queue.failed_job_registry.requeue(job_id)
    _work(queue)
    [row] = _outbox(rq_container, request.id)
    assert row.handled_at is not None and row.attempts == 2 and row.last_error is None
    assert len(flaky.rows) == 2


def test_a_job_for_an_outbox_row_that_does_not_exist_fails_loudly(rq_container, queue):
    rq_container.publisher.publish([999_999])
    _work(queue)
    job = queue.fetch_job(jobs.job_id(queue.name, 999_999))
    assert job.get_status() == JobStatus.FAILED
    assert "outbox row 999999 does not exist" in job.latest_result().exc_string


@pytest.fixture
def redis_down_container(rq_container, queue_name):
    """The same database, but the publisher's Redis does not answer."""
    dead = jobs.RQPublisher(Queue(queue_name, connection=redis.Redis.from_url(NOBODY_LISTENS)))
    c = bootstrap(rq_container.settings, publisher=dead, engine=rq_container.engine)
    yield c
    dead.queue.connection.close()


def test_when_redis_is_down_at_commit_the_request_is_kept_and_the_relay_publishes_it_later(
        redis_down_container, rq_container, org, queue, handlers):
    counting = Counting()
    jobs.subscribe("request.registered", counting)
    request = _register(redis_down_container, org)
    assert rq_container.requests.get(org.id, request.number, DISPATCHER).id == request.id
    [row] = _outbox(rq_container, request.id)
    assert queue.get_job_ids() == []

    assert _relay(rq_container) == 1
    assert queue.get_job_ids() == [jobs.job_id(queue.name, row.id)]
    assert _relay(rq_container) == 0  # its job exists now
    _work(queue)
    assert [r.id for r in counting.rows] == [row.id]
    assert _outbox(rq_container, request.id)[0].handled_at is not None


def test_the_relay_leaves_rows_that_are_younger_than_its_grace_period(redis_down_container, rq_container, org,
                                                                      queue):
    _register(redis_down_container, org)
    assert jobs.relay_outbox(rq_container.engine, rq_container.publisher) == 0
    assert queue.get_job_ids() == []


def test_the_relay_leaves_a_failed_job_alone_instead_of_hammering_a_failing_handler(rq_container, org, queue,
                                                                                    handlers):
    flaky = Counting(fail_with=RuntimeError("SMS gateway is down"))
    jobs.subscribe("request.registered", flaky)
    request = _register(rq_container, org)
    _work(queue)
    [row] = _outbox(rq_container, request.id)
    assert row.handled_at is None and jobs.job_id(queue.name, row.id) in queue.failed_job_registry.get_job_ids()
    assert _relay(rq_container) == 0
    _work(queue)
    assert len(flaky.rows) == 1 and _outbox(rq_container, request.id)[0].attempts == 1


def test_the_relay_requeues_an_unhandled_row_whose_job_redis_no_longer_has(rq_container, org, queue, handlers):
    counting = Counting()
    jobs.subscribe("request.registered", counting)
    request = _register(rq_container, org)
    [row] = _outbox(rq_container, request.id)
    # Redis lost it, or rq dropped a failed job after its failure_ttl:
    queue.fetch_job(jobs.job_id(queue.name, row.id)).delete()
    assert _relay(rq_container) == 1
    _work(queue)
    assert [r.id for r in counting.rows] == [row.id]
    assert _outbox(rq_container, request.id)[0].handled_at is not None


def test_the_relay_pages_through_more_unhandled_rows_than_one_batch(redis_down_container, rq_container, org, queue):
    requests = [_register(redis_down_container, org) for _ in range(5)]
    ids = [_outbox(rq_container, r.id)[0].id for r in requests]
    rq_container.publisher.publish([ids[0], ids[3]])
    assert _relay(rq_container, batch=2) == 3
    assert sorted(queue.get_job_ids()) == sorted(jobs.job_id(queue.name, i) for i in ids)


def test_a_job_of_the_same_id_on_another_queue_does_not_count_as_queued(rq_container, org, queue):
    request = _register(rq_container, org)
    [row] = _outbox(rq_container, request.id)
    assert rq_container.publisher.unqueued([row.id]) == []
    other = jobs.RQPublisher(Queue(queue.name + "-other", connection=queue.connection))
    assert other.unqueued([row.id]) == [row.id]
