"""The one scheduler: ``hotline cron`` runs rq's cron (:class:`rq.cron.CronScheduler`) with the hotline's periodic
work, and only enqueues jobs; the rq workers (``hotline worker``) run them.

The periodic tasks, each a name, a period and an idempotent callable that may raise:

- the journal's own: the escalation ladder's full tick (60 s), requests left unaccepted go to someone else (60 s),
  the console's analytics kept warm (hourly), recordings past their retention purged (daily, 03:30 local time);
- the plugins' ``periodic(container)`` hooks (``(every_seconds, callable)``; named ``<plugin>.<index>``): the
  notifier's reminder wake-ups (0.25 s), the transcription sweeper (60 s), ...

Each task is one rq job, ``journal_api.cron.run_task(name)``, on the ``<queue>-cron`` queue, which every worker
reads before its main queue, so a periodic job does not wait behind a backlog of sends. A job that fails raises:
rq records the failure, and the next period runs it again.

Exactly one scheduler's worth of work: a scheduler enqueues only while it holds a Redis lease
(``hotline:cron:<queue>:leader``, SET NX PX, renewed every round); a second ``hotline cron`` started by mistake
waits as a standby and takes over within the lease when the first one stops. A task whose previous job is still
queued or running is not enqueued again (no pile-up behind a slow worker). Every task is idempotent anyway (the
escalation log, the message dedupe keys and the send claim keep each action to once), so a job run twice, or a
second scheduler that slipped in during a Redis restart, does no harm.
"""
from __future__ import annotations

import logging
import secrets
import signal
import threading
import time
from importlib.metadata import entry_points
from typing import Callable

from rq.cron import CronScheduler

from .config import Settings
from .plugins import GROUP

log = logging.getLogger(__name__)

ESCALATE_EVERY_SECONDS = 60
REASSIGN_EVERY_SECONDS = 60
ANALYTICS_EVERY_SECONDS = 3600
ANALYTICS_DAYS = 31  # the hourly warm-up keeps the last month's figures; `hotline analytics warm` does a year
RETENTION_CRON = "30 3 * * *"  # daily, local time of the scheduler's machine
LEASE_SECONDS = 5.0  # the leader's lease; a standby takes over this long after the leader stopped
ROUND_SECONDS = 0.25  # the longest the loop sleeps (renews the lease, sees a stop)
STALE_SECONDS = 30  # a quick task's job older than this no longer holds the task up (its worker died)
PENDING = (b"queued", b"started", b"deferred", b"scheduled")
Task = tuple[float, Callable[[], object]]


def cron_queue_name(queue_name: str) -> str:
    return f"{queue_name}-cron"


# -- the tasks ---------------------------------------------------------------------------------------------------
def journal_tasks(container) -> dict[str, Task | tuple[str, Callable]]:
    """The journal's periodic work; a period is seconds, or a cron expression (str)."""
    from .service.escalation import EscalationService

    def escalate():
        return EscalationService(container.uow).tick(container.clock())

    def warm_analytics():
        from .service.console_analytics import warm
        from .storage import tables as t
        import sqlalchemy as sa

        with container.engine.connect() as conn:
            orgs = conn.execute(sa.select(t.organisations.c.id, t.organisations.c.timezone)).all()
        return sum(warm(container.engine, o.id, o.timezone, ANALYTICS_DAYS, container.clock()) for o in orgs)

    def purge_recordings():
        from recordings.retention import purge_expired

        return purge_expired(container)

    return {"escalation.tick": (ESCALATE_EVERY_SECONDS, escalate),
            "assignment.reassign_unaccepted": (REASSIGN_EVERY_SECONDS, container.assignment.reassign_unaccepted),
            "analytics.warm": (ANALYTICS_EVERY_SECONDS, warm_analytics),
            "recordings.purge_expired": (RETENTION_CRON, purge_recordings)}


def plugin_tasks(container) -> dict[str, Task]:
    """The plugins' ``periodic`` hooks, named ``<entry point>.<index>`` (the same names in every process)."""
    found = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        hook = getattr(ep.load(), "periodic", None)
        for index, (period, task) in enumerate(hook(container) if hook else ()):
            found[f"{ep.name}.{index}"] = (period, task)
    return found


def all_tasks(container) -> dict:
    return {**journal_tasks(container), **plugin_tasks(container)}


_tasks: dict[int, dict] = {}  # id(container) -> its tasks, built once per process


def run_task(name: str):
    """The rq job of every periodic task: runs this worker's task ``name``; its exception propagates to rq."""
    from . import jobs

    container = jobs._get_container()
    tasks = _tasks.get(id(container))
    if tasks is None:
        tasks = _tasks[id(container)] = all_tasks(container)
    if name not in tasks:
        raise LookupError(f"no periodic task '{name}' in this worker (known: {', '.join(sorted(tasks))})")
    return tasks[name][1]()


# -- the scheduler -----------------------------------------------------------------------------------------------
class HotlineCron(CronScheduler):
    """rq's CronScheduler with a leader's lease and no pile-up (see the module's docstring)."""

    def __init__(self, connection, queue_name: str, *, lease_seconds: float = LEASE_SECONDS, name: str = ""):
        super().__init__(connection=connection, name=name)
        self.queue_name = queue_name
        self.lock_key = f"hotline:cron:{queue_name}:leader"
        self.owner = f"{self.name}:{secrets.token_hex(4)}"
        self.lease_ms = int(lease_seconds * 1000)

    def register_tasks(self, tasks: dict) -> None:
        queue = cron_queue_name(self.queue_name)
        for name, (period, _task) in sorted(tasks.items()):
            every = {"cron": period} if isinstance(period, str) else {"interval": period}
            seconds = 86400 if isinstance(period, str) else period
            self.register(run_task, queue, args=(name,), name=f"{self.queue_name}:{name}",
                          result_ttl=0 if seconds < 10 else 600, failure_ttl=7 * 24 * 3600,
                          job_timeout=180 if seconds <= 60 else 3600, **every)

    # -- the leader's lease --------------------------------------------------------------------------------------
    def leads(self) -> bool:
        if self.connection.set(self.lock_key, self.owner, nx=True, px=self.lease_ms):
            log.info("cron %s leads the periodic work of queue %s", self.name, self.queue_name)
            return True
        if self.connection.get(self.lock_key) == self.owner.encode():
            self.connection.pexpire(self.lock_key, self.lease_ms)
            return True
        return False

    def resign(self) -> None:
        try:
            if self.connection.get(self.lock_key) == self.owner.encode():
                self.connection.delete(self.lock_key)
        except Exception:  # Redis away while stopping: the lease simply runs out
            log.warning("cron %s could not give up its lease; it expires in %d ms", self.name, self.lease_ms)

    # -- enqueueing ----------------------------------------------------------------------------------------------
    def pending(self, job) -> bool:
        """The task's newest job has not finished yet (queued, running, ...) and is not stale: a worker killed in
        the middle of a job leaves it "started" until rq's maintenance notices, which must not hold the task up."""
        newest = self.connection.zrange(job.job_history_key, 0, 0, desc=True, withscores=True)
        if not newest:
            return False
        job_id, enqueued_at = newest[0]
        quick = job.interval is not None and job.interval < 10
        if time.time() - enqueued_at > (STALE_SECONDS if quick else job.job_options.get("job_timeout", 180)):
            return False
        return self.connection.hget(f"rq:job:{job_id.decode()}", "status") in PENDING

    def enqueue_jobs(self) -> list:
        from rq.utils import now

        if not self.leads():
            return []
        enqueued = []
        for job in self._cron_jobs:
            if job.should_run():
                moment = now()
                if not self.pending(job):
                    job.enqueue(self.connection)
                    enqueued.append(job)
                job.set_enqueue_time(moment)
        return enqueued

    def run(self, stop: threading.Event) -> None:
        """Enqueue what falls due until ``stop`` is set; Redis away: wait and try again (nothing is lost, the
        schedule of reminders lives in the database)."""
        from redis.exceptions import RedisError

        born = False
        try:
            while not stop.is_set():
                try:
                    if not born:
                        self.register_birth()
                        born = True
                    if self.enqueue_jobs():
                        self.save()
                    self.heartbeat()
                except RedisError as exc:
                    log.warning("cron %s: Redis unavailable (%s); retrying in 1 s", self.name, exc)
                    stop.wait(1.0)
                    continue
                stop.wait(min(self.calculate_sleep_interval(), ROUND_SECONDS))
        finally:
            self.resign()
            try:
                self.register_death()
            except RedisError:
                pass


def build_cron(settings: Settings, container, connection) -> HotlineCron:
    cron = HotlineCron(connection, settings.queue_name)
    cron.register_tasks(all_tasks(container))
    return cron


def run_cron(settings: Settings) -> None:
    """``hotline cron``: the one scheduler process. SIGTERM and SIGINT stop it after the current round."""
    from redis import Redis

    from .bootstrap import bootstrap

    container = bootstrap(settings)
    connection = Redis.from_url(settings.redis_url)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        cron = build_cron(settings, container, connection)
        log.info("cron %s: %d periodic task(s) on queue %s: %s", cron.name, len(cron.get_jobs()),
                 cron_queue_name(settings.queue_name), ", ".join(j.name for j in cron.get_jobs()))
        cron.run(stop)
    finally:
        connection.close()
        container.dispose()


def register(cli) -> None:
    """``hotline cron``."""
    import click

    @cli.command("cron")
    @click.pass_context
    def cron(ctx: click.Context) -> None:
        """Run the one scheduler (rq cron): enqueues reminders, escalations and the other periodic jobs."""
        from .cli import _logging, _settings

        _logging()
        run_cron(_settings(ctx))

    return None
