"""Staff softphones at Kamailio (issue 8 §1): a staff member registers with the digest credentials of his staff
record (`hotline sip-password`); wrong credentials are refused; a disabled member loses his softphone within
seconds: he cannot register again and his current registration is dropped."""
from __future__ import annotations

import json
import subprocess

from sip_support import PY, ROOT, call_rows, stored_call, wait_for
from journal_api.domain.events import Actor
from telephony.kamailio import ctl_socket

SYSTEM = Actor.system("test")


def credentials(hotline, staff_id: int) -> tuple[str, str]:
    out = subprocess.run([PY, "-m", "journal_api.cli", "sip-password", str(staff_id)], env=hotline.env, cwd=ROOT,
                         capture_output=True, text=True, timeout=30, check=True).stdout.split()
    return out[0], out[1]


def register(hotline, user: str, password: str) -> int:
    proc = subprocess.run([PY, "-m", "telephony.staff_calls", "register", f"sip:127.0.0.1:{hotline.port}", user,
                           password], cwd=ROOT, capture_output=True, text=True, timeout=30)
    return json.loads(proc.stdout.strip().splitlines()[-1])["code"]


def registered(hotline, user: str) -> bool:
    sock = ctl_socket(next((hotline.data_dir / "run").glob("sip-*")) / "dbtext")
    out = subprocess.run(["kamcmd", "-s", f"unix:{sock}", "ul.lookup", "location", user], capture_output=True,
                         text=True, timeout=10)
    return "Contact" in out.stdout or "Address" in out.stdout


def test_a_staff_softphone_registers_with_its_record_credentials_and_a_disabled_member_is_locked_out(
        hotline_factory, org, technician, container):
    hotline = hotline_factory(workers=2)  # Kamailio in front: the registrar
    user, password = credentials(hotline, technician.id)
    assert user == "ivanov"
    assert register(hotline, user, password) == 200
    assert register(hotline, user, password[::-1]) in (401, 403)
    assert register(hotline, "petrov", password) in (401, 403)

    kept = subprocess.Popen([PY, "-m", "telephony.staff_calls", "register", f"sip:127.0.0.1:{hotline.port}", user,
                             password, "--stay", "30"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = ""
        while not line.startswith("{"):  # pjlib says hello on stdout first
            line = kept.stdout.readline()
            assert line, "the softphone exited"
        assert json.loads(line)["code"] == 200
        assert registered(hotline, user)
        container.registry.update_staff(org.id, SYSTEM, technician.id, {"active": False})
        wait_for(lambda: not registered(hotline, user), 15, message="the disabled member's registration dropped")
        assert register(hotline, user, password) in (401, 403)
    finally:
        kept.terminate()
        kept.wait(10)


def dial_dispatch(hotline, user: str, password: str, hold: float = 2, *extra) -> dict:
    proc = subprocess.run([PY, "-m", "telephony.staff_calls", "call", f"sip:dispatch@127.0.0.1:{hotline.port}", user,
                           password, "--hold", str(hold), *map(str, extra)], cwd=ROOT, capture_output=True, text=True, timeout=40)
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])


def test_dialling_dispatch_needs_the_technicians_credentials_and_reaches_a_worker_as_him(
        hotline_factory, org, technician, container):
    hotline = hotline_factory(workers=2)
    user, password = credentials(hotline, technician.id)
    refused = dial_dispatch(hotline, user, password[::-1])
    assert not refused["answered"] and refused["code"] in (401, 403, 407)
    assert not call_rows(container.engine)  # wrong credentials never reach a worker
    answered = dial_dispatch(hotline, user, password)
    assert answered["answered"], hotline.logs()
    (row,) = wait_for(lambda: [r for r in call_rows(container.engine) if r["ended_at"]], 20, message="the call")
    assert row["from_number"] == technician.phone  # his authenticated SIP account -> his staff record


def test_a_technician_nobody_answers_leaves_a_voice_message_with_a_callback_task(
        hotline_factory, org, technician, container, speech):
    hotline = hotline_factory(workers=2)  # no dispatcher registered: Kamailio answers the transfer leg 480
    user, password = credentials(hotline, technician.id)
    outcome = dial_dispatch(hotline, user, password, 20, "--play", speech, "--play-at", 7)
    assert outcome["answered"], hotline.logs()
    row = stored_call(container, kinds=("call", "voicemail"), timeout=25)[0]
    assert row["from_number"] == technician.phone and row["to_number"] == "dispatch"
    assert row["ivr_path"][:2] == ["to_dispatcher", "voicemail_record"], row["ivr_path"]
    assert "main_menu" not in row["ivr_path"]  # the staff flow, not the residents' menu
    assert row["callback_reason"] == "voicemail" and row["callback_due_at"] is not None
