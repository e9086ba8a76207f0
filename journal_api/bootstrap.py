"""Wiring in one place: settings -> engine -> unit of work -> services. Nothing here runs at import time."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Callable

import sqlalchemy as sa

from recordings.store import BlobStore

from .config import Settings, load_settings
from .rules import load_calendar
from .service.assignment import AssignmentService
from .service.calls import CallService
from .service.deadlines import DeadlinePolicy, RulesPolicy
from .service.imports import ImportService
from .service.links import LinkService
from .service.registry import RegistryService
from .service.requests import RequestService
from .service.rules import RuleService
from .service.schedules import ScheduleService
from .service.tokens import TokenService
from .service.transcripts import TranscriptService
from .service.uow import MemoryPublisher, Publisher, UnitOfWork
from .storage.db import make_engine, make_session_factory
from .storage.mapping import start_mappers
from .storage.tables import utcnow


@dataclass
class Container:
    settings: Settings
    engine: sa.Engine
    publisher: Publisher
    blobs: BlobStore
    uow: Callable[[], UnitOfWork]
    requests: RequestService
    registry: RegistryService
    tokens: TokenService
    imports: ImportService
    clock: Callable[[], datetime]
    assignment: AssignmentService
    schedules: ScheduleService
    rules: RuleService
    links: LinkService

    @cached_property
    def calls(self) -> CallService:  # calls, recordings and the IVR's facade (issue 4)
        return CallService(self.uow, self.requests, self.blobs)

    @cached_property
    def transcripts(self) -> TranscriptService:  # transcripts and the "asr" fill of requests (issue 5)
        return TranscriptService(self.uow, self.requests)

    def dispose(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings | None = None, *, publisher: Publisher | None = None,
              deadlines: DeadlinePolicy | None = None, clock: Callable[[], datetime] = utcnow,
              engine: sa.Engine | None = None) -> Container:
    settings = settings or load_settings()
    start_mappers()
    engine = engine or make_engine(settings.effective_database_url)
    factory = make_session_factory(engine)
    if publisher is None:
        from .jobs import RQPublisher  # imported here: only production wiring needs redis

        from redis import Redis
        from rq import Queue

        publisher = RQPublisher(Queue(settings.queue_name, connection=Redis.from_url(settings.redis_url)))
    blobs = BlobStore(settings.effective_blob_dir)

    def committed(event_names: set[str]) -> None:
        if "staff.changed" in event_names:  # disabled, or another role: his token must be checked again
            tokens.forget()

    def uow() -> UnitOfWork:
        return UnitOfWork(factory, publisher, clock, on_commit=committed)

    registry = RegistryService(uow)
    tokens = TokenService(uow, cache_seconds=settings.token_cache_seconds)
    assignment = AssignmentService(uow)
    policy = RulesPolicy(engine)
    return Container(
        settings=settings, engine=engine, publisher=publisher, blobs=blobs, uow=uow,
        requests=RequestService(uow, deadlines or policy, blobs, settings.max_upload_bytes,
                                assignment),
        registry=registry, tokens=tokens, imports=ImportService(uow, registry), clock=clock,
        assignment=assignment, schedules=ScheduleService(uow, assignment, load_calendar),
        rules=RuleService(uow, policy),
        links=LinkService(uow, clock),
    )


__all__ = ["Container", "bootstrap", "MemoryPublisher"]
