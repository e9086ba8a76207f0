"""The one scheduler (`hotline cron`, rq's cron): it enqueues every periodic task onto the cron queue and the rq
workers run them; a second scheduler started by mistake adds no work; reminders leave once, also across a Redis
restart and a kill of the worker and the scheduler."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from rq import Queue, SimpleWorker

from journal_api import cron as cron_module
from journal_api import jobs
from journal_api.cron import build_cron, cron_queue_name
from journal_api.service.escalation import EscalationService
from journal_api.service.requests import NewRequest
from journal_api.storage import tables as t
from notifier import runtime
from notifier.scheduler import Wakeups

from cron_support import hotline_env, start, stop
from sms_kannel import wait_for
from sms_support import DISPATCHER, SYSTEM, all_messages


def _forget(conn, queue_name: str) -> None:
    """This test's keys of the cron queue, its jobs, the schedule's history and the leader's lease."""
    queue = Queue(cron_queue_name(queue_name), connection=conn)
    for registry in (queue.failed_job_registry, queue.finished_job_registry, queue.started_job_registry):
        for job_id in registry.get_job_ids():
            conn.delete(f"rq:job:{job_id}")
        conn.delete(registry.key)
    queue.delete(delete_jobs=True)
    for key in conn.scan_iter(f"rq:cron_job:{queue_name}:*"):
        conn.delete(key)
    conn.delete(f"hotline:cron:{queue_name}:leader")


@pytest.fixture
def worker_process(container, monkeypatch):
    """This test process as an rq worker would be after wire_worker: the journal's container and a notifier on it."""
    monkeypatch.setattr(jobs, "_container", container)
    monkeypatch.setattr(runtime, "_notifier", None)
    monkeypatch.setattr(cron_module, "_tasks", {})
    return container


def test_the_scheduler_enqueues_every_periodic_task_on_the_cron_queue_and_a_worker_runs_them(
        worker_process, org, settings, redis_conn):
    container = worker_process
    container.requests.register(org.id, DISPATCHER, NewRequest(description="Нет света в подъезде"))  # nobody holds it
    cron = build_cron(settings, container, redis_conn)
    names = {job.name.split(":", 1)[1] for job in cron.get_jobs()}
    assert {"escalation.tick", "assignment.reassign_unaccepted", "analytics.warm", "recordings.purge_expired",
            "notifier.0", "notifier.1", "transcription.0"} <= names
    queue = Queue(cron_queue_name(settings.queue_name), connection=redis_conn)
    try:
        enqueued = {job.name.split(":", 1)[1] for job in cron.enqueue_jobs()}
        assert enqueued == names - {"recordings.purge_expired"}  # every interval task at once; the purge at 03:30
        assert queue.count == len(enqueued)
        assert cron.enqueue_jobs() == []  # nothing is due again yet
        SimpleWorker([queue], connection=redis_conn).work(burst=True)
        assert queue.failed_job_registry.count == 0 and queue.count == 0
    finally:
        cron.resign()
        _forget(redis_conn, settings.queue_name)
    with container.engine.connect() as conn:
        due = conn.execute(sa.select(t.outbox.c.name).where(t.outbox.c.name == "request.escalation_due")).all()
    assert len(due) == 1  # the escalation tick ran in the worker


def test_a_periodic_task_that_fails_is_recorded_by_rq_and_not_swallowed(worker_process, settings, redis_conn,
                                                                       monkeypatch):
    def broken():
        raise RuntimeError("the database is away")

    monkeypatch.setitem(cron_module._tasks, id(worker_process), {"test.broken": (60, broken)})
    cron = cron_module.HotlineCron(redis_conn, settings.queue_name)
    cron.register_tasks({"test.broken": (60, broken)})
    queue = Queue(cron_queue_name(settings.queue_name), connection=redis_conn)
    try:
        assert len(cron.enqueue_jobs()) == 1
        SimpleWorker([queue], connection=redis_conn).work(burst=True)
        failed = queue.failed_job_registry.get_job_ids()
        assert len(failed) == 1
        assert "the database is away" in queue.fetch_job(failed[0]).latest_result().exc_string
    finally:
        cron.resign()
        _forget(redis_conn, settings.queue_name)


def test_a_task_whose_job_is_still_waiting_is_not_enqueued_again(worker_process, settings, redis_conn):
    cron = cron_module.HotlineCron(redis_conn, settings.queue_name)
    cron.register_tasks({"notifier.0": (0.25, lambda: None)})
    queue = Queue(cron_queue_name(settings.queue_name), connection=redis_conn)
    try:
        assert len(cron.enqueue_jobs()) == 1
        time.sleep(0.3)
        assert cron.enqueue_jobs() == []  # no worker took the first one: no pile-up
        assert queue.count == 1
        job = cron.get_jobs()[0]
        newest = job.get_job_ids(redis_conn, 0, 0)[0]
        redis_conn.zadd(job.job_history_key, {newest: time.time() - 31})  # its worker died long ago, say
        time.sleep(0.3)
        assert len(cron.enqueue_jobs()) == 1  # a stale job does not hold the task up
    finally:
        cron.resign()
        _forget(redis_conn, settings.queue_name)


def test_only_one_of_two_schedulers_enqueues_and_the_standby_takes_over(worker_process, settings, redis_conn):
    first, second = (cron_module.HotlineCron(redis_conn, settings.queue_name, lease_seconds=1.0) for _ in range(2))
    try:
        assert first.leads() and not second.leads()
        assert first.leads()  # renewed by its owner
        assert second.enqueue_jobs() == []  # the standby enqueues nothing
        first.resign()
        assert second.leads()
        assert not first.leads()
    finally:
        first.resign()
        second.resign()
        _forget(redis_conn, settings.queue_name)


def _runs(conn, queue_name: str, task: str) -> int:
    return conn.zcard(f"rq:cron_job:{queue_name}:{task}:jobs")


def test_two_scheduler_processes_do_one_schedulers_worth_of_work(container, settings, redis_conn, tmp_path):
    env = hotline_env(settings, provider="log")
    procs = [start("worker", env, tmp_path / "worker.log")]
    try:
        procs += [start("cron", env, tmp_path / "cron1.log"), start("cron", env, tmp_path / "cron2.log")]
        wait_for(lambda: _runs(redis_conn, settings.queue_name, "escalation.tick") >= 1, timeout=60, step=0.1)
        time.sleep(1.0)  # both are up and past their first round
        before = _runs(redis_conn, settings.queue_name, "notifier.0")
        time.sleep(4.0)
        runs = _runs(redis_conn, settings.queue_name, "notifier.0") - before
        assert 4 <= runs <= 18  # one scheduler: at most every 0.25 s (two would make up to 32)
        assert _runs(redis_conn, settings.queue_name, "escalation.tick") == 1  # once a minute, not once each
        leader = redis_conn.get(f"hotline:cron:{settings.queue_name}:leader")
        assert leader is not None
        stop([p for p in procs[1:] if leader.decode().startswith(f"{_hostname()}:{p.pid}:")])
        standby_from = _runs(redis_conn, settings.queue_name, "notifier.0")
        wait_for(lambda: _runs(redis_conn, settings.queue_name, "notifier.0") >= standby_from + 4, timeout=30,
                 step=0.1)  # the standby took over
        new_leader = redis_conn.get(f"hotline:cron:{settings.queue_name}:leader")
        assert new_leader is not None and new_leader != leader
        queue = Queue(cron_queue_name(settings.queue_name), connection=redis_conn)
        assert queue.failed_job_registry.count == 0
    finally:
        stop(procs)
        _forget(redis_conn, settings.queue_name)


def _hostname() -> str:
    import socket

    return socket.gethostname()


FAST = {"statuses": ["assigned"], "until": "accepted", "emergency": [],
        "normal": [{"at": "assigned+6s", "remind": "assignee"},
                   {"at": "assigned+14s", "escalate": "dispatcher_on_duty"}]}


def _assigned_requests(container, org, technician, count: int) -> list:
    """Assigned requests whose wake-ups are set, as the worker's event handler sets them."""
    out = []
    for i in range(count):
        r = container.requests.register(org.id, DISPATCHER, NewRequest(description=f"Течёт кран {i}",
                                                                        work_type="water"))
        out.append(container.requests.assign(org.id, r.number, DISPATCHER, "dispatcher", technician.id))
    with container.engine.begin() as conn:  # their messages are not this test's business
        conn.execute(sa.update(t.outbox).values(handled_at=t.utcnow()))
    wakeups = Wakeups(container.engine, container.clock)
    for r in out:
        wakeups.touch(org.id, r.id)
    return out


@pytest.mark.e2e
def test_reminders_leave_once_across_a_redis_restart_and_a_killed_worker_and_scheduler(
        container, org, settings, technician, dispatcher, tmp_path):
    from test_sms_faults import OwnRedis

    EscalationService(container.uow).set_track(org.id, SYSTEM, "acceptance", FAST)
    redis = OwnRedis(tmp_path)
    redis.start()
    env = hotline_env(settings, redis.url, provider="log", lease_seconds=3)
    procs = [start("worker", env, tmp_path / "worker1.log"), start("worker", env, tmp_path / "worker2.log"),
             start("cron", env, tmp_path / "cron1.log")]
    try:
        requests = _assigned_requests(container, org, technician, 6)
        ids = {r.id for r in requests}
        wait_for(lambda: len(all_messages(container, template="reminder_acceptance", status="sent")) == 6,
                 timeout=60, step=0.1)
        stop(procs, kill=True)  # the worker and the scheduler die without a word ...
        redis.kill()  # ... and Redis loses every job and the schedule's history
        redis.start()
        procs = [start("worker", env, tmp_path / "worker3.log"), start("cron", env, tmp_path / "cron2.log")]
        wait_for(lambda: len(all_messages(container, template="escalation_acceptance", status="sent")) == 6,
                 timeout=60, step=0.1)
        stop(procs)  # a scheduler restarted once more changes nothing
        procs = [start("worker", env, tmp_path / "worker4.log"), start("cron", env, tmp_path / "cron3.log")]
        time.sleep(4.0)
    finally:
        stop(procs)
        redis.kill()
    reminders = all_messages(container, template="reminder_acceptance")
    escalations = all_messages(container, template="escalation_acceptance")
    assert sorted(m.request_id for m in reminders) == sorted(ids)  # one each, none twice
    assert sorted(m.request_id for m in escalations) == sorted(ids)
    assert {(m.status, m.attempts) for m in reminders + escalations} == {("sent", 1)}
    for r in requests:
        moment = r.assigned_at + timedelta(seconds=6)
        sent = next(m.sent_at for m in reminders if m.request_id == r.id)
        assert sent >= moment  # never early
    with container.engine.connect() as conn:
        logged = conn.execute(sa.select(sa.func.count()).select_from(t.escalation_log)).scalar()
    assert logged == 12


def test_the_workers_log_keeps_quiet_about_the_schedulers_jobs_but_not_about_their_failures():
    import logging

    from journal_api.serve import QuietPeriodicJobs

    quiet = QuietPeriodicJobs("hotline-cron")

    def record(level, msg, *args):
        return logging.LogRecord("rq.worker", level, __file__, 1, msg, args, None)

    assert not quiet.filter(record(logging.INFO, "Worker %s: %s: %s (%s)", "w1", "hotline-cron", "Job OK", "j1"))
    assert not quiet.filter(record(logging.INFO, "Successfully completed %s job in %ss on worker %s",
                                   "journal_api.cron.run_task('notifier.0')", "0.01", "w1"))
    assert quiet.filter(record(logging.INFO, "Worker %s: %s: %s (%s)", "w1", "hotline", "Job OK", "j2"))
    assert quiet.filter(record(logging.ERROR, "%s: run_task('notifier.0') failed on hotline-cron", "w1"))


def test_a_batch_of_events_marks_each_handled_once_and_keeps_the_error_of_a_failing_one(worker_process, org,
                                                                                       monkeypatch):
    from notifier.scheduler import handle_events

    container = worker_process
    good = container.requests.register(org.id, DISPATCHER, NewRequest(description="Течёт кран"))
    bad = container.requests.register(org.id, DISPATCHER, NewRequest(description="Нет света"))
    with container.engine.connect() as conn:
        ids = list(conn.execute(sa.select(t.outbox.c.id).order_by(t.outbox.c.id)).scalars())
    seen = []

    def handler(_container, row):
        if row.request_id == bad.id:
            raise RuntimeError("провайдер недоступен")
        seen.append(row.id)

    monkeypatch.setattr(jobs, "_HANDLERS", {"*": [handler]})
    with pytest.raises(RuntimeError, match="провайдер недоступен"):
        handle_events(ids)
    assert handle_events([i for i in ids if i in seen]) == 0  # handled ones are not handled again
    with container.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(t.outbox))}
    assert seen and all(rows[i].handled_at is not None and rows[i].attempts == 1 for i in seen)
    failed = [r for r in rows.values() if r.request_id == bad.id]
    assert failed and all(r.handled_at is None and "провайдер недоступен" in r.last_error and r.attempts == 1
                          for r in failed)
    assert {r.request_id for r in rows.values() if r.id in seen} == {good.id}
