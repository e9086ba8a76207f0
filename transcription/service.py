"""`hotline transcriber`: the live consumer in a thread, and an rq SimpleWorker on ``<queue>-transcribe`` then
``<queue>-transcribe-low`` (whole calls: taken only when no description waits) in the main thread (no fork per job,
so the model is loaded once per process). When it stops, the live streams in progress go back to the queue."""
from __future__ import annotations

import dataclasses
import threading


def run_transcriber(ctx, *, capacity: int | None = None, engine: str | None = None, model: str | None = None):
    from redis import Redis
    from rq import Queue, SimpleWorker

    from journal_api import jobs
    from journal_api.bootstrap import bootstrap
    from journal_api.config import load_settings

    from .live import LiveTranscriber
    from .pipeline import low_queue_name, queue_name
    from .settings import load

    config = (ctx.obj or {}).get("config")
    settings = load_settings(config_file=config)
    tsettings = load(config_file=config)
    if capacity:
        tsettings = dataclasses.replace(tsettings, capacity=capacity)
    container = bootstrap(settings)
    jobs.set_container(container)
    live = LiveTranscriber(container, tsettings, engine_name=engine, model=model)
    redis = Redis.from_url(settings.redis_url)
    thread = threading.Thread(target=live.run, args=(redis,), name="live-consumer", daemon=True)
    thread.start()
    try:
        queues = [Queue(queue_name(container), connection=redis), Queue(low_queue_name(container), connection=redis)]
        worker = SimpleWorker(queues, connection=redis)
        worker.work(logging_level="INFO")
    finally:
        live.stop.set()
        thread.join(timeout=5)
        live.join(timeout=10)
        container.dispose()
