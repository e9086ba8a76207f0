"""Links of the technician's and the resident's pages: ``/t/<token>`` and ``/r/<token>``.

The token is 12 URL-safe characters (72 random bits): a Cyrillic SMS has 70 characters, so the link must stay short.
Only its SHA-256 is stored, with the request, the audience, the subject (the technician's staff id), the expiry and a
revocation mark; a link opens exactly one request of one organisation.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa

from ..domain.errors import Forbidden, NotFound, ValidationError
from ..storage import tables as t
from ..storage.tables_console import console_links
from .uow import UnitOfWork

AUDIENCES = {"technician": "/t/", "resident": "/r/"}
TOKEN_BYTES = 9  # 12 URL-safe characters
MAX_TTL = timedelta(days=90)


@dataclass(frozen=True)
class Grant:
    """What a verified link allows: one request of one organisation, for one audience."""

    link_id: int
    org_id: int
    request_id: int
    request_number: int
    audience: str
    subject_id: int | None
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_of(path_or_token: str) -> str:
    """``/t/Xk3p9QaZ...``, a full URL or the bare token -> the bare token."""
    return path_or_token.rstrip("/").rsplit("/", 1)[-1]


class LinkService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Callable[[], datetime]):
        self.uow = uow_factory
        self.clock = clock

    def issue(self, org_id: int, request_id: int, *, audience: str, subject_id: int | None = None,
              ttl: timedelta = timedelta(days=7)) -> str:
        """A new link to one request; returns its path (``/t/...`` or ``/r/...``)."""
        if audience not in AUDIENCES:
            raise ValidationError(f"Unknown link audience '{audience}'; use technician or resident.", field="audience")
        if not timedelta(0) < ttl <= MAX_TTL:
            raise ValidationError(f"A link lives between a second and {MAX_TTL.days} days.", field="ttl")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self.uow() as uow:
            s = uow.session
            owner = s.scalar(sa.select(t.requests.c.org_id).where(t.requests.c.id == request_id))
            if owner != org_id:
                raise NotFound(f"Request id {request_id} does not exist in this organisation.")
            if audience == "technician" and subject_id is not None:
                staff_org = s.scalar(sa.select(t.staff.c.org_id).where(t.staff.c.id == subject_id))
                if staff_org != org_id:
                    raise NotFound(f"Staff member {subject_id} does not exist in this organisation.")
            now = self.clock()
            s.execute(sa.insert(console_links).values(
                org_id=org_id, request_id=request_id, audience=audience, subject_id=subject_id,
                token_hash=_hash(token), created_at=now, expires_at=now + ttl))
            uow.commit()
        return AUDIENCES[audience] + token

    def verify(self, token: str, audience: str) -> Grant:
        """The grant of a live link. Unknown or for another audience: NotFound; expired or revoked: Forbidden."""
        token = token_of(token)
        if audience not in AUDIENCES or not token or len(token) > 64:
            raise NotFound("Ссылка не найдена.")
        with self.uow() as uow:
            s = uow.session
            row = s.execute(
                sa.select(console_links, t.requests.c.number)
                .join(t.requests, t.requests.c.id == console_links.c.request_id)
                .where(console_links.c.token_hash == _hash(token))).one_or_none()
            if row is None or row.audience != audience:
                raise NotFound("Ссылка не найдена.")
            now = self.clock()
            if row.revoked_at is not None:
                raise Forbidden("Ссылка отозвана.")
            if row.expires_at <= now:
                raise Forbidden("Срок действия ссылки истёк.")
            s.execute(sa.update(console_links).where(console_links.c.id == row.id).values(last_used_at=now))
            uow.commit()
        return Grant(row.id, row.org_id, row.request_id, row.number, row.audience, row.subject_id, row.expires_at)

    def revoke(self, token_or_id: str | int, *, org_id: int | None = None) -> int:
        """Revoke one link by its token (or path) or its id; returns how many links were revoked (0 or 1)."""
        where = (console_links.c.id == token_or_id if isinstance(token_or_id, int)
                 else console_links.c.token_hash == _hash(token_of(token_or_id)))
        if org_id is not None:
            where = sa.and_(where, console_links.c.org_id == org_id)
        with self.uow() as uow:
            done = uow.session.execute(sa.update(console_links).where(where, console_links.c.revoked_at.is_(None))
                                       .values(revoked_at=self.clock())).rowcount
            uow.commit()
        return done

    def revoke_request(self, org_id: int, request_id: int, *, audience: str | None = None) -> int:
        """Revoke every live link of a request (e.g. the technician's links on reassignment)."""
        where = [console_links.c.org_id == org_id, console_links.c.request_id == request_id,
                 console_links.c.revoked_at.is_(None)]
        if audience is not None:
            where.append(console_links.c.audience == audience)
        with self.uow() as uow:
            done = uow.session.execute(sa.update(console_links).where(*where).values(revoked_at=self.clock())).rowcount
            uow.commit()
        return done

    def of_request(self, org_id: int, request_id: int) -> list[dict]:
        """The links of one request (without their tokens), for the console's request page."""
        with self.uow() as uow:
            rows = uow.session.execute(
                sa.select(console_links.c.id, console_links.c.audience, console_links.c.subject_id,
                          console_links.c.created_at, console_links.c.expires_at, console_links.c.revoked_at,
                          console_links.c.last_used_at)
                .where(console_links.c.org_id == org_id, console_links.c.request_id == request_id)
                .order_by(console_links.c.id)).all()
        return [dict(r._mapping) for r in rows]
