"""Sign-in to the console: staff logins with argon2 password hashes.

A session is a signed cookie that carries the console user's id and ``session_epoch``; setting a password again bumps
the epoch, which ends every older session. After ``MAX_FAILURES`` wrong passwords in a row a login is locked for
``LOCK_FOR``; the lock is per login, so one wrong guesser cannot lock out the whole organisation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..domain.errors import Forbidden, NotFound, ValidationError
from ..domain.events import Actor
from ..storage import tables as t
from ..storage.tables_console import console_users
from .uow import UnitOfWork

MIN_PASSWORD = 8
MAX_FAILURES = 10
LOCK_FOR = timedelta(minutes=5)
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
CONSOLE_ROLES = ("dispatcher", "manager", "admin")  # technicians use their signed link, not the console
BAD_CREDENTIALS = "Неверная организация, логин или пароль."


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    org_id: int
    org_code: str
    org_name: str
    timezone: str
    staff_id: int
    login: str
    role: str
    name: str
    epoch: int

    @property
    def actor(self) -> Actor:
        return Actor(kind="staff", role=self.role, id=self.staff_id, name=self.name)


class ConsoleAuth:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Callable[[], datetime],
                 hasher: PasswordHasher | None = None):
        self.uow = uow_factory
        self.clock = clock
        # Defaults of argon2-cffi (RFC 9106 low-memory profile): ~50 ms per check on this machine.
        self.hasher = hasher or PasswordHasher()

    def set_password(self, org_code: str, staff_id: int, password: str, *, login: str | None = None,
                     actor: Actor | None = None) -> str:
        """Create or change a staff member's console login; returns the login. Ends his other sessions."""
        if len(password) < MIN_PASSWORD:
            raise ValidationError(f"The password must have at least {MIN_PASSWORD} characters.", field="password")
        with self.uow() as uow:
            s = uow.session
            org = s.execute(sa.select(t.organisations.c.id).where(t.organisations.c.code == org_code)).one_or_none()
            if org is None:
                raise NotFound(f"Organisation '{org_code}' does not exist.")
            staff = s.execute(sa.select(t.staff).where(t.staff.c.id == staff_id,
                                                       t.staff.c.org_id == org.id)).one_or_none()
            if staff is None:
                raise NotFound(f"Staff member {staff_id} does not exist in organisation '{org_code}'.")
            if staff.role not in CONSOLE_ROLES:
                raise ValidationError(f"Staff member {staff_id} is a {staff.role}; the console is for "
                                      f"{', '.join(CONSOLE_ROLES)} (a technician works from his signed link).")
            existing = s.execute(sa.select(console_users).where(console_users.c.staff_id == staff_id)).one_or_none()
            login = (login or (existing.login if existing else None) or staff.sip_account or f"staff{staff_id}")
            login = login.strip().lower()
            if not LOGIN.match(login):
                raise ValidationError("A login is 2-64 latin letters, digits, '.', '_' or '-'.", field="login")
            clash = s.scalar(sa.select(console_users.c.id).where(
                console_users.c.org_id == org.id, console_users.c.login == login,
                console_users.c.staff_id != staff_id))
            if clash:
                raise ValidationError(f"The login '{login}' is taken in organisation '{org_code}'.", field="login")
            now, digest = self.clock(), self.hasher.hash(password)
            if existing is None:
                s.execute(sa.insert(console_users).values(org_id=org.id, staff_id=staff_id, login=login,
                                                          password_hash=digest, created_at=now, updated_at=now))
            else:
                s.execute(sa.update(console_users).where(console_users.c.id == existing.id).values(
                    login=login, password_hash=digest, updated_at=now, failed_logins=0, locked_until=None,
                    session_epoch=console_users.c.session_epoch + 1))
            uow.audit(org.id, actor or Actor.system("cli"), "console_user", staff_id, "password", {"login": login})
            uow.commit()
        return login

    def has_login(self, staff_id: int) -> bool:
        with self.uow() as uow:
            return uow.session.scalar(sa.select(console_users.c.id).where(console_users.c.staff_id == staff_id)) \
                is not None

    def authenticate(self, org_code: str, login: str, password: str) -> ConsoleUser:
        """The user, or Forbidden with one message for every wrong part (no hint which one was wrong)."""
        login = (login or "").strip().lower()
        with self.uow() as uow:
            s = uow.session
            row = s.execute(_user_query().where(t.organisations.c.code == (org_code or "").strip(),
                                                console_users.c.login == login)).one_or_none()
            if row is None:
                self.hasher.hash(password or "x")  # the same time as a real check: logins cannot be probed
                raise Forbidden(BAD_CREDENTIALS)
            now = self.clock()
            if row.locked_until is not None and row.locked_until > now:
                raise Forbidden("Слишком много неудачных попыток входа; попробуйте через несколько минут.")
            try:
                self.hasher.verify(row.password_hash, password or "")
            except (VerificationError, InvalidHashError):
                failures = row.failed_logins + 1
                s.execute(sa.update(console_users).where(console_users.c.id == row.id).values(
                    failed_logins=0 if failures >= MAX_FAILURES else failures,
                    locked_until=now + LOCK_FOR if failures >= MAX_FAILURES else row.locked_until))
                uow.commit()
                raise Forbidden(BAD_CREDENTIALS) from None
            if not row.active or row.role not in CONSOLE_ROLES:
                raise Forbidden("Учётная запись отключена.")
            if row.failed_logins or self.hasher.check_needs_rehash(row.password_hash):
                s.execute(sa.update(console_users).where(console_users.c.id == row.id).values(
                    failed_logins=0, password_hash=self.hasher.hash(password)))
            uow.audit(row.org_id, _actor(row), "console_user", row.staff_id, "sign_in", {"login": login})
            uow.commit()
            return _user(row)

    def load(self, user_id: int, epoch: int) -> ConsoleUser | None:
        """The signed-in user of a session, or None if the session is stale (password changed, staff disabled)."""
        with self.uow() as uow:
            row = uow.session.execute(_user_query().where(console_users.c.id == user_id)).one_or_none()
        if row is None or row.session_epoch != epoch or not row.active or row.role not in CONSOLE_ROLES:
            return None
        return _user(row)


def _user_query() -> sa.Select:
    return (sa.select(console_users.c.id, console_users.c.org_id, console_users.c.staff_id, console_users.c.login,
                      console_users.c.password_hash, console_users.c.session_epoch, console_users.c.failed_logins,
                      console_users.c.locked_until, t.staff.c.role, t.staff.c.full_name, t.staff.c.active,
                      t.organisations.c.code, t.organisations.c.name.label("org_name"), t.organisations.c.timezone)
            .join(t.staff, t.staff.c.id == console_users.c.staff_id)
            .join(t.organisations, t.organisations.c.id == console_users.c.org_id))


def _actor(row) -> Actor:
    return Actor(kind="staff", role=row.role, id=row.staff_id, name=row.full_name)


def _user(row) -> ConsoleUser:
    return ConsoleUser(row.id, row.org_id, row.code, row.org_name, row.timezone, row.staff_id, row.login, row.role,
                       row.full_name, row.session_epoch)


# The demo's console logins (`hotline seed demo`, `make run`): known passwords, for a first look only.
DEMO_LOGINS = {"demo-disp-1": ("dispatcher", "dispatcher"), "demo-manager": ("manager", "manager1")}


def seed_demo_logins(c, org_code: str, staff: dict[str, int], report) -> None:
    """Give the demo's first dispatcher and its manager a console login, once (a changed password stays)."""
    auth = ConsoleAuth(c.uow, c.clock)
    for external_id, (login, password) in DEMO_LOGINS.items():
        staff_id = staff.get(external_id)
        if staff_id is not None and not auth.has_login(staff_id):
            auth.set_password(org_code, staff_id, password, login=login, actor=Actor.system("seed"))
            report.add("console_logins")
