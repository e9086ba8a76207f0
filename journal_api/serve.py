"""The long-running processes: the web app under gunicorn, and the rq worker with its outbox relay (the one
scheduler, ``hotline cron``, is :mod:`journal_api.cron`)."""
from __future__ import annotations

import logging
import threading
import time
import traceback

from .config import Settings

log = logging.getLogger(__name__)

RELAY_EVERY_SECONDS = 15.0
ESCALATE_EVERY_SECONDS = 60.0  # `hotline escalate`'s loop; the scheduler's period is journal_api.cron's


WEB_THREADS = 4  # threads per web worker process
WEB_KEEPALIVE_SECONDS = 5


def run_web(settings: Settings, *, workers: int = 2, threads: int = WEB_THREADS) -> None:
    """Serve the app with gunicorn. The app factory runs in each worker after the fork (no preload), so no
    database connection or Redis client is shared between processes.

    Worker model: ``workers`` processes (one per core) of ``threads`` threads each (gthread), with HTTP keep-alive.
    A request spends much of its time waiting for PostgreSQL and Redis; while one thread waits another runs, so a
    process keeps its core busy. Sync workers (one request at a time, a new connection per request: they cannot
    keep one alive) made fewer creates/s on 2 cores with more CPU per create (docs/journal.md, "Performance").
    """
    from gunicorn.app.base import BaseApplication

    class HotlineWeb(BaseApplication):
        def load_config(self):
            options = {"bind": f"{settings.web_host}:{settings.web_port}", "workers": workers,
                       "worker_class": "gthread" if threads > 1 else "sync", "threads": threads,
                       "keepalive": WEB_KEEPALIVE_SECONDS,
                       "proc_name": "hotline-web", "accesslog": "-", "errorlog": "-", "timeout": 60,
                       "logger_class": access_logger_class(),
                       "graceful_timeout": 10, "preload_app": False}
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 24: no shared socket in $HOME
                options["control_socket_disable"] = True
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from .app import create_app

            return create_app(settings=settings)

    HotlineWeb().run()


def access_logger_class():
    """gunicorn's logger, writing the same access line (Apache combined format, gunicorn's default) at a third of
    the CPU: gunicorn builds a dictionary of every request header, response header and environ variable for each
    line (about 3 % of a create's server CPU); this formats the nine fields directly and the time stamp once a
    second. A changed ``access_log_format`` gets gunicorn's own formatting."""
    from gunicorn.config import AccessLogFormat
    from gunicorn.glogging import Logger

    class AccessLogger(Logger):
        _stamp = (0, "")

        def access(self, resp, req, environ, request_time):
            if not self.access_log_enabled:
                return
            if self.cfg.access_log_format != AccessLogFormat.default or \
                    environ.get("HTTP_AUTHORIZATION", "").startswith("Basic "):  # gunicorn logs the user
                return super().access(resp, req, environ, request_time)
            second = int(time.time())
            if self._stamp[0] != second:
                self._stamp = (second, time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(second)))
            status = resp.status
            if isinstance(status, str):
                status = status.split(None, 1)[0]
            sent = getattr(resp, "sent", None)
            try:
                self.access_log.info('%s - - %s "%s %s %s" %s %s "%s" "%s"', environ.get("REMOTE_ADDR", "-"),
                                     self._stamp[1], environ["REQUEST_METHOD"], environ["RAW_URI"],
                                     environ["SERVER_PROTOCOL"], status, "-" if sent is None else sent,
                                     environ.get("HTTP_REFERER", "-"), environ.get("HTTP_USER_AGENT", "-"))
            except Exception:
                self.error(traceback.format_exc())

    return AccessLogger


def run_worker(settings: Settings, *, relay_every: float = RELAY_EVERY_SECONDS) -> None:
    """An rq worker on the settings' queues, plus a thread that re-publishes outbox rows whose publish failed.

    The worker reads the periodic jobs' queue (``<queue>-cron``, filled by the one ``hotline cron``; see
    :mod:`journal_api.cron`) before its main queue, so a reminder's wake-up does not wait behind a backlog of sends.
    It runs no periodic work of its own: several workers, one scheduler.

    The worker runs jobs in its own process (rq's SimpleWorker): a fork per job would copy the database pool and
    the relay thread's locks into the child; the jobs are short and idempotent, so nothing is gained by forking.
    """
    from redis import Redis
    from rq import Queue, SimpleWorker

    from .bootstrap import bootstrap
    from .cron import cron_queue_name

    container = bootstrap(settings)
    wire_worker(container)
    stop = threading.Event()
    relay = threading.Thread(target=relay_loop, args=(container, stop, relay_every), name="outbox-relay",
                             daemon=True)
    relay.start()
    connection = Redis.from_url(settings.redis_url)
    quiet = QuietPeriodicJobs(cron_queue_name(settings.queue_name))
    logging.getLogger("rq.worker").addFilter(quiet)
    try:
        queues = [Queue(name, connection=connection) for name in (cron_queue_name(settings.queue_name),
                                                                  settings.queue_name)]
        worker = SimpleWorker(queues, connection=connection)
        worker.work(logging_level="INFO")
    finally:
        logging.getLogger("rq.worker").removeFilter(quiet)
        stop.set()
        relay.join(timeout=5)
        connection.close()
        container.dispose()


class QuietPeriodicJobs(logging.Filter):
    """rq's worker logs three INFO lines per job; the scheduler's jobs (a wake-up every 0.25 s) would bury the log.
    Their INFO lines are dropped; a failure (rq logs it at ERROR) still shows."""

    def __init__(self, cron_queue: str):
        super().__init__()
        self.marks = (cron_queue, "journal_api.cron.run_task(", "result discarded immediately")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        text = record.getMessage()
        return not any(mark in text for mark in self.marks)


def wire_worker(container) -> list:
    """Everything a worker process subscribes, in one place: the journal's own handlers, then the plugins'.
    Returns the plugins' periodic tasks (``hotline cron`` enqueues them; see :mod:`journal_api.cron`)."""
    from . import jobs
    from .plugins import call_all
    from .service import incidents

    jobs.set_container(container)
    incidents.subscribe()  # known-incident detection after each registration
    call_all("worker", container)
    return [task for tasks in call_all("periodic", container) for task in tasks]


def relay_loop(container, stop: threading.Event, every: float, periodic: list | None = None) -> None:
    """Relay unpublished outbox rows now and then every ``every`` seconds, until ``stop`` is set. Recovery of lost
    enqueues only, idempotent, so it stays per worker; the periodic work is ``hotline cron``'s (``periodic`` is
    accepted for old callers and ignored)."""
    from .jobs import relay_outbox

    while True:
        try:
            sent = relay_outbox(container.engine, container.publisher)
            if sent:
                log.info("outbox relay re-published %d event(s)", sent)
        except Exception:  # Redis or the database is away for a moment: the next round tries again
            log.exception("outbox relay failed; retrying in %.0f s", every)
        if stop.wait(every):
            return
