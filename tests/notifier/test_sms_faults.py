"""Faults: Redis restarted in the middle of a batch (every message still sent exactly once), and a provider that
times out (retried, then the dispatcher is alerted)."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from journal_api.storage.tables_messages import messages
from notifier.outbox import NewMessage
from notifier.segments import count
from notifier.service import Notifier
from notifier.templates import Rendered

from sms_support import DISPATCHER, all_messages, pump
from sms_kannel import free_port, wait_for, wait_port
from twilio_api import TwilioServer

pytestmark = pytest.mark.e2e


class OwnRedis:
    """A redis-server of this test only, on a free port, without persistence: a restart loses every job."""

    def __init__(self, workdir):
        self.port = free_port()
        self.workdir = workdir
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=5)


def _worker(settings, redis_url: str, twilio: TwilioServer, log_path, command: str = "worker") -> subprocess.Popen:
    """`hotline worker` (or `hotline cron`, the one scheduler, which re-enqueues the messages Redis lost)."""
    env = dict(os.environ, HOTLINE_DATABASE_URL=settings.database_url, HOTLINE_REDIS_URL=redis_url,
               HOTLINE_QUEUE_NAME=settings.queue_name, HOTLINE_DATA_DIR=settings.data_dir, HOTLINE_ENV="test",
               HOTLINE_SMS_PROVIDER="twilio", HOTLINE_SMS_TWILIO_BASE_URL=twilio.url,
               HOTLINE_SMS_TWILIO_ACCOUNT_SID=twilio.account_sid, HOTLINE_SMS_TWILIO_AUTH_TOKEN=twilio.auth_token,
               HOTLINE_SMS_TWILIO_FROM="+74950000000", HOTLINE_SMS_RATE_PER_SECOND="25",
               HOTLINE_SMS_LEASE_SECONDS="3", HOTLINE_SMS_TIMEOUT_SECONDS="5")
    env.pop("HOTLINE_CONFIG", None)
    hotline = os.path.join(os.path.dirname(sys.executable), "hotline")
    return subprocess.Popen([hotline, command], env=env, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)


def _sent(container) -> int:
    with container.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(messages)
                            .where(messages.c.status == "sent")).scalar()


def _unsent(container) -> list:
    with container.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            sa.select(messages.c.id, messages.c.status, messages.c.attempts, messages.c.last_error)
            .where(messages.c.status != "sent").order_by(messages.c.id))]


def _tails(tmp_path, lines: int = 5) -> dict:
    return {log.name: log.read_text(errors="replace").splitlines()[-lines:]
            for log in sorted(tmp_path.glob("worker*.log"))}


def test_redis_restarted_mid_batch_every_message_is_sent_exactly_once(container, org, settings, sms_settings,
                                                                      tmp_path):
    from redis import Redis
    from rq import Queue

    from notifier.service import RQEnqueuer

    redis = OwnRedis(tmp_path)
    redis.start()
    workers, scheduler = [], []
    with TwilioServer(sms_settings.twilio_account_sid, sms_settings.twilio_auth_token) as twilio:
        try:
            conn = Redis.from_url(redis.url)
            notifier = Notifier(container, settings=dataclasses.replace(sms_settings, provider="twilio", lease_seconds=3),
                                enqueuer=RQEnqueuer(Queue(settings.queue_name, connection=conn)), redis=conn)
            total = 60
            items = []
            for i in range(total):
                text = f"Проверка {i:03d}"
                counted = count(text)
                items.append(NewMessage(org.id, None, f"+7912000{i:04d}", "technician", None,
                                        Rendered("test", text, counted.encoding, counted.segments, ()), "twilio",
                                        f"fault:{i}"))
            assert len(notifier.queue(items)) == total
            workers.append(_worker(settings, redis.url, twilio, tmp_path / "worker1.log"))
            scheduler.append(_worker(settings, redis.url, twilio, tmp_path / "cron.log", "cron"))
            wait_for(lambda: _sent(container) >= 15, timeout=30)
            redis.kill()  # mid-batch: the queue and every job in Redis are gone
            assert _sent(container) < total
            redis.start()

            def supervised_all_sent():  # rq's worker quits when its Redis goes; a supervisor starts another
                if all(proc.poll() is not None for proc in workers):
                    workers.append(_worker(settings, redis.url, twilio, tmp_path / f"worker{len(workers) + 1}.log"))
                return _sent(container) == total

            try:
                wait_for(supervised_all_sent, timeout=90, step=0.2)
            except AssertionError:  # say which rows are missing and why, and what the workers said last
                raise AssertionError(f"not every message was sent: {_unsent(container)}; workers' last lines: "
                                     f"{_tails(tmp_path)}") from None
            time.sleep(3.5)  # a lease more: nothing is sent again
        finally:
            for proc in workers + scheduler:
                proc.terminate()
            for proc in workers + scheduler:
                proc.wait(timeout=10)
            redis.kill()
        bodies = [m["body"] for m in twilio.messages]
    assert len(bodies) == total and len(set(bodies)) == total
    assert {m.attempts for m in all_messages(container)} == {1}


def test_a_provider_that_times_out_is_retried_then_the_dispatcher_is_alerted(container, org, sms_settings,
                                                                            enqueued, redis_conn, assigned,
                                                                            dispatcher):
    with TwilioServer(sms_settings.twilio_account_sid, sms_settings.twilio_auth_token) as twilio:
        twilio.delay = 0.6
        settings = dataclasses.replace(sms_settings, provider="twilio", twilio_base_url=twilio.url,
                                       twilio_from="+74950000000", timeout_seconds=0.2, max_attempts=3)
        notifier = Notifier(container, settings=settings, enqueuer=enqueued, redis=redis_conn)
        pump(container, notifier, send=False)
        target = all_messages(container, audience="technician")[0].id
        results = [notifier.send(target)]
        for _ in range(2):  # each retry once its backoff has passed, as the scheduler re-enqueues it
            while target not in notifier.outbox.due():
                time.sleep(0.01)
            results.append(notifier.send(target))
    assert results == ["retry", "retry", "failed"]
    row = notifier.outbox.get(target)
    assert (row.status, row.attempts) == ("failed", 3) and "timed out" in row.last_error
    alerts = all_messages(container, template="alert_sms_failed")
    assert [a.recipient for a in alerts] == ["+79031112233"]
    assert any("не доставлено" in (e.new_value or "")
               for e in container.requests.history(org.id, assigned.number, DISPATCHER))
