"""`hotline sip`: N telephony workers, restarted when they die, drained on SIGTERM; Kamailio in front when N > 1
or a trunk is configured.

N = 1 without a trunk: the worker listens on the public port (``sip_port``). Otherwise each worker gets a private
port and Kamailio listens on the public one (telephony/kamailio.py) and registers at the trunk. A worker that
dies (even ``kill -9``) is restarted on the same ports after the spool is repaired: the WAV headers of its calls
are fixed here, and the new worker's mover stores those calls in the journal as ``failed`` with their partial
recordings.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from recordings import spool

from . import kamailio
from .netutil import free_port, free_udp_range, sip_options

log = logging.getLogger("telephony.supervisor")
# Per worker: its pjsua calls (at most [sip] max_calls = 4, callers and transfer legs together: a leg is a call),
# RTP and RTCP each, with room.
RTP_PORTS = 40
QUICK_FAILURES = 5
ACCOUNTS_REFRESH_S = 3.0


@dataclass
class Slot:
    index: int
    host: str
    port: int
    rtp_port: int
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    quick_failures: int = 0


class SupervisorError(RuntimeError):
    """The hotline cannot run as configured; the message says why."""


class Supervisor:
    def __init__(self, settings, sip, *, echo=print, container=None):
        self.settings, self.sip, self.echo = settings, sip, echo
        self.data_dir = Path(settings.data_dir).resolve()
        self.run_dir = self.data_dir / "run" / f"sip-{settings.sip_port}"
        self.stop = threading.Event()
        self.slots: list[Slot] = []
        self.kam: subprocess.Popen | None = None
        self._container = container
        self._journal = None
        self._duty_stale = False

    # -- start -----------------------------------------------------------------------------------------------
    def plan(self) -> None:
        n, host = max(1, self.sip.workers), self.sip.host
        for i in range(n):
            if not self.sip.kamailio_in_front:
                port = self.settings.sip_port
            else:
                port = self.sip.worker_port_base + i if self.sip.worker_port_base else free_port(host=host)
            rtp = self.sip.rtp_port_base + RTP_PORTS * i if self.sip.rtp_port_base else free_udp_range(RTP_PORTS, host)
            self.slots.append(Slot(i, host, port, rtp))

    def spawn(self, slot: Slot) -> None:
        argv = [sys.executable, "-m", "telephony.worker", "--index", str(slot.index), "--host", slot.host,
                "--port", str(slot.port), "--rtp-port", str(slot.rtp_port)]
        if self.sip.kamailio_in_front:
            argv.append("--no-log-rejected")  # Kamailio logs the busy calls once, not once per worker
        env = dict(os.environ, HOTLINE_DATA_DIR=str(self.data_dir))
        slot.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        slot.started_at = time.monotonic()

    def start_kamailio(self) -> None:
        try:
            kamailio.check_dispatch_number(self.sip.dispatch_number)
        except ValueError as exc:
            raise SupervisorError(str(exc)) from None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        dbtext = self.run_dir / "dbtext"
        accounts, on_duty = self.staff_accounts()
        kamailio.write_dbtext(dbtext, accounts, on_duty)
        trunk = {"registrar": self.sip.trunk_registrar, "username": self.sip.trunk_username,
                 "password": self.sip.trunk_password, "domain": self.sip.trunk_domain, "realm": self.sip.trunk_realm}
        cfg = kamailio.render(listen_host=self.sip.host, listen_port=self.settings.sip_port,
                              workers=[(s.host, s.port) for s in self.slots], dbtext_dir=dbtext,
                              dispatcher_list=self.run_dir / "dispatcher.list",
                              retry_after=self.sip.busy_retry_after, trunk=trunk,
                              dispatch_number=self.sip.dispatch_number)
        path = self.run_dir / "kamailio.cfg"
        path.write_text(cfg)
        self.kam = subprocess.Popen([self.sip.kamailio_bin, "-DD", "-E", "-f", str(path), "-Y", str(self.run_dir),
                                     "-P", str(self.run_dir / "kamailio.pid"), "-w", str(self.run_dir),
                                     "-m", "64", "-M", "8"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True, errors="replace", preexec_fn=_die_with_parent,
                                    start_new_session=True)  # its own process group: see stop_group()
        threading.Thread(target=self.read_kamailio, args=(self.kam,), daemon=True).start()

    def staff_accounts(self) -> tuple[list[dict], list[tuple[str, int]]]:
        """Every active staff member with a ``sip_account`` may register (his role goes with his credentials);
        the second list: the dispatchers on duty now (:func:`on_duty`), whom ``dispatchers`` rings. The database
        being down only leaves the softphones out, never the hotline."""
        try:
            rows, shifts, absences = self._read_staff()
        except Exception as exc:
            log.warning("staff softphones not loaded (%s); the hotline runs without them", exc)
            self.accounts_loaded = False
            return [], []
        self.accounts_loaded = True
        rows = unambiguous(rows)
        accounts = [{"username": r.sip_account, "role": r.role,
                     "password": kamailio.staff_password(self.settings.effective_secret_key, r.org_id, r.sip_account)}
                    for r in rows]
        return accounts, on_duty(rows, shifts, absences, datetime.now(timezone.utc))

    def _read_staff(self):
        import sqlalchemy as sa

        from journal_api.storage import tables as t

        st, sh, ab = t.staff.c, t.shifts.c, t.absences.c
        now = datetime.now(timezone.utc)
        with self.container.engine.connect() as conn:
            rows = conn.execute(sa.select(st.id, st.org_id, st.role, st.sip_account)
                                .where(st.active.is_(True), st.sip_account.is_not(None))).all()
            desks = [r.id for r in rows if r.role == "dispatcher"]
            if not desks:
                return rows, [], []
            shifts = conn.execute(sa.select(sh.staff_id, sh.starts_at, sh.ends_at, sh.kind)
                                  .where(sh.staff_id.in_(desks), sh.starts_at <= now, sh.ends_at > now)).all()
            absences = conn.execute(sa.select(ab.staff_id, ab.starts_at, ab.ends_at)
                                    .where(ab.staff_id.in_(desks), ab.starts_at <= now, ab.ends_at > now)).all()
        return rows, shifts, absences

    def refresh_accounts(self) -> None:
        """Disabled staff (or a changed sip_account) lose their softphone within seconds (telephony/staff_calls.py);
        a dispatcher whose shift starts or ends is rung or not from the next refresh on (docs/staff_calls.md)."""
        accounts, duty = self.staff_accounts()
        if not self.accounts_loaded:  # the database is down: keep the tables as they are
            return
        dbtext = self.run_dir / "dbtext"
        for username in kamailio.refresh_dbtext(dbtext, accounts):
            self.kamcmd("ul.rm", "location", username)
        if kamailio.refresh_duty(dbtext, duty) or self._duty_stale:
            self._duty_stale = not self.kamcmd("htable.reload", "duty")  # failed: retried at the next refresh

    def kamcmd(self, *args: str) -> bool:
        sock = f"unix:{kamailio.ctl_socket(self.run_dir / 'dbtext')}"
        try:
            done = subprocess.run(["kamcmd", "-s", sock, *args], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("kamcmd %s failed: %s", " ".join(args), exc)
            return False
        if done.returncode != 0:
            log.warning("kamcmd %s failed: %s", " ".join(args), (done.stderr or done.stdout).strip())
        return done.returncode == 0

    @property
    def container(self):
        if self._container is None:
            from journal_api.bootstrap import bootstrap

            self._container = bootstrap(self.settings)
        return self._container

    def read_kamailio(self, proc: subprocess.Popen) -> None:
        with open(self.run_dir / "kamailio.log", "a") as out:
            for line in proc.stderr:
                out.write(line)
                out.flush()
                if "HOTLINE-BUSY|" in line:
                    self.busy(line.split("HOTLINE-BUSY|", 1)[1].strip())

    def busy(self, fields: str) -> None:
        from .journal import Journal, caller_phone, dialled_number

        call_id, from_uri, to_user = (fields.split("|") + ["", "", ""])[:3]
        if self._journal is None:
            self._journal = Journal(self.settings, self.data_dir, worker="kamailio", container=self._container)
        info = {"sip_call_id": call_id, "from_number": caller_phone(from_uri) or "anonymous",
                "to_number": dialled_number(f"sip:{to_user}@x", self.sip.did), "status": "over_capacity",
                "at": datetime.now(timezone.utc).isoformat()}
        self._journal.submit(None, "missed", self._journal.missed, info)  # spooled if the journal is down

    def drain_results(self) -> int:
        """Empty the journal's answers about busy calls (else they pile up for as long as it runs); one that was
        not logged was spooled by Journal.missed and a worker's replay logs it later. Returns how many."""
        count = 0
        while self._journal is not None and not self._journal.results.empty():
            _, kind, payload = self._journal.results.get_nowait()
            count += 1
            if isinstance(payload, dict) and not payload.get("ok"):
                log.warning("journal %s: %s (spooled, replayed later)", kind, payload.get("error"))
        return count

    def wait_ready(self, timeout: float = 20.0) -> bool:
        end = time.monotonic() + timeout
        targets = [(s.host, s.port) for s in self.slots]
        if self.kam is not None:
            targets.append((self.sip.host, self.settings.sip_port))
        pending = set(targets)
        while pending and time.monotonic() < end and not self.stop.is_set():
            for target in list(pending):
                if sip_options(*target, timeout=0.3) is not None:
                    pending.discard(target)
        return not pending

    # -- run -------------------------------------------------------------------------------------------------
    def run(self) -> int:
        previous = {sig: signal.signal(sig, lambda *_: self.stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            repaired = spool.recover(self.data_dir)
            if repaired:
                log.info("repaired %d recordings left by a stopped worker", len(repaired))
            self.plan()
            if self.sip.kamailio_in_front:
                self.start_kamailio()
            for slot in self.slots:
                self.spawn(slot)
            if not self.wait_ready():
                self.echo("SIP: not every worker answered in time; see the messages above.")
            else:
                self.echo(f"SIP ready: udp:{self.sip.host}:{self.settings.sip_port} ({len(self.slots)} worker"
                          f"{'s' if len(self.slots) > 1 else ''}"
                          f"{', Kamailio in front' if self.kam else ''})")
            while not self.stop.wait(0.2):
                self.watch()
            return 0
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def watch(self) -> None:
        self.drain_results()
        for slot in self.slots:
            code = slot.proc.poll() if slot.proc else 0
            if code is None:
                continue
            log.warning("worker %d exited with %s; restarting it", slot.index, code)
            spool.recover(self.data_dir)
            if time.monotonic() - slot.started_at < 5.0:
                slot.quick_failures += 1
                if slot.quick_failures >= QUICK_FAILURES:  # e.g. its port is taken: say so and stop
                    raise SupervisorError(f"worker {slot.index} cannot start on {slot.host}:{slot.port} "
                                          f"(exited {QUICK_FAILURES} times within seconds); see its messages above")
                time.sleep(1.0)  # a worker that cannot start must not spin the CPU
            else:
                slot.quick_failures = 0
            slot.restarts += 1
            self.spawn(slot)
        if self.kam is not None and time.monotonic() >= getattr(self, "_next_refresh", 0.0):
            self._next_refresh = time.monotonic() + ACCOUNTS_REFRESH_S
            self.refresh_accounts()
        if self.kam is not None and self.kam.poll() is not None:
            log.warning("Kamailio exited with %s; restarting it (its log: %s)", self.kam.returncode,
                        self.run_dir / "kamailio.log")
            stop_group(self.kam, grace=0)  # children of a crashed main process would keep the SIP port
            time.sleep(1.0)
            self.start_kamailio()

    def shutdown(self) -> None:
        live = [s.proc for s in self.slots if s.proc and s.proc.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)  # drain: no new calls, the current ones go on
        deadline = time.monotonic() + self.sip.drain_seconds + 10
        for proc in live:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.kam is not None:
            stop_group(self.kam)
        if self._journal is not None:
            self._journal.close()
        elif self._container is not None:
            self._container.dispose()


def stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop Kamailio's main process and its children, which share its process group: TERM (the main process
    stops its children itself), then KILL whatever is left after ``grace`` seconds. Killing the main process alone
    left its children orphaned, still holding the public SIP port (seen after test runs)."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:  # the whole group is gone
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            time.sleep(0.2)  # the children exit just after the main process; KILL only stragglers
    if proc.poll() is None:
        proc.wait()


def unambiguous(staff) -> list:
    """Kamailio has one account namespace for the installation, while the journal's uniqueness of ``sip_account``
    is per organisation for older data (new writes are refused, journal_api/service/registry.py): an account name
    held in two organisations is left out altogether, with a warning, rather than letting one tenant's
    credentials or calls reach the other's staff."""
    orgs: dict[str, set] = {}
    for row in staff:
        orgs.setdefault(row.sip_account, set()).add(row.org_id)
    clash = sorted(a for a, ids in orgs.items() if len(ids) > 1)
    if clash:
        log.warning("SIP accounts held in more than one organisation are left out: %s", ", ".join(clash))
    return [r for r in staff if r.sip_account not in clash]


def on_duty(staff, shifts, absences, now: datetime) -> list[tuple[str, int]]:
    """(account, org_id) of the dispatchers rung by ``dispatchers-<org_id>``, per organisation: those on a shift
    covering ``now`` and not absent; when nobody of the organisation is, every active dispatcher who is not absent
    (the rule of the escalation's ``dispatcher_on_duty``: an organisation without a rota, or a gap in it, still
    reaches someone)."""
    from journal_api.domain.schedule import on_shift

    away = {a.staff_id for a in absences if a.starts_at <= now < a.ends_at}
    working = on_shift(shifts, absences, now)
    desks: dict[int, list] = {}
    for row in staff:
        if row.role == "dispatcher":
            desks.setdefault(row.org_id, []).append(row)
    out = set()
    for rows in desks.values():
        chosen = [r for r in rows if r.id in working] or [r for r in rows if r.id not in away]
        out.update((r.sip_account, r.org_id) for r in chosen)
    return sorted(out)


def _die_with_parent() -> None:  # in the child before exec: a supervisor killed -9 takes its workers along
    import ctypes

    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))


def run_supervisor(settings, sip) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sip %(levelname)s %(message)s")
    try:
        return Supervisor(settings, sip, echo=lambda line: print(line, flush=True)).run()
    except SupervisorError as exc:
        log.error("%s", exc)
        return 1
