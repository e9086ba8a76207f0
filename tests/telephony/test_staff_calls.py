"""Staff softphones at Kamailio (issue 8 §1): a staff member registers with the digest credentials of his staff
record (`hotline sip-password`); wrong credentials are refused; a disabled member loses his softphone within
seconds: he cannot register again and his current registration is dropped."""
from __future__ import annotations

import json
import subprocess
import wave

import numpy as np

from sip_support import PY, ROOT, blob_path, call_rows, recording_rows, stored_call, wait_for
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


def envelope(path) -> "np.ndarray":
    """100 ms RMS frames: comparable across sample rates and codecs, deaf to jitter-buffer shifts."""
    with wave.open(str(path)) as w:
        rate, data = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
    step = rate // 10
    frames = data[: len(data) // step * step].reshape(-1, step)
    return np.sqrt((frames ** 2).mean(axis=1))


def likeness(heard, source) -> float:
    """The best Pearson correlation of the source's envelope with an equally long stretch of what was heard, over
    every lag (1.0: the same sound; the source may be cut by up to a third at either end)."""
    a, b = envelope(heard), envelope(source)
    best, cut = 0.0, len(b) // 3
    for start in range(-cut, len(a) - len(b) + cut + 1):
        lo, hi = max(0, start), min(len(a), start + len(b))
        part, ref = a[lo:hi], b[lo - start: hi - start]
        if len(part) >= len(b) - cut and part.std() and ref.std():
            best = max(best, float(np.corrcoef(part, ref)[0, 1]))
    return best


def rhythm(path, pattern=(0.3, 0.2, 0.6, 0.4, 0.2, 0.3, 0.8, 0.2, 0.4, 0.6), rate: int = 8000) -> None:
    """A 600 Hz tone switched on and off by ``pattern`` (seconds on, off, on, ...)."""
    chunks = []
    for i, seconds in enumerate(pattern):
        t = np.arange(int(seconds * rate)) / rate
        chunks.append(np.sin(2 * np.pi * 600 * t) * (8000 if i % 2 == 0 else 0))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.concatenate(chunks).astype("<i2").tobytes())


def test_a_technician_is_bridged_to_the_dispatcher_on_duty_and_both_hear_each_other(
        hotline_factory, org, technician, container, speech, tmp_path):
    desk = container.registry.upsert_staff(org.id, SYSTEM, {
        "full_name": "Петрова Анна Сергеевна", "role": "dispatcher", "phone": "+7 912 000-00-02",
        "sip_account": "petrova"})
    reply = tmp_path / "reply.wav"
    rhythm(reply)  # her side: a tone in an irregular rhythm, unlike any speech
    spoken = tmp_path / "spoken.wav"  # she starts speaking 1.5 s after she picked up
    subprocess.run(["sox", str(reply), str(spoken), "pad", "1.5", "0"], check=True)
    hotline = hotline_factory(workers=2)  # the dispatchers list is read at start
    desk_user, desk_password = credentials(hotline, desk.id)
    dispatcher = subprocess.Popen([PY, "-m", "telephony.staff_calls", "answer", f"sip:127.0.0.1:{hotline.port}",
                                   desk_user, desk_password, "--play", spoken, "--record", tmp_path / "desk.wav",
                                   "--timeout", "40"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = ""
        while not line.startswith("{"):
            line = dispatcher.stdout.readline()
            assert line, "the dispatcher's softphone exited"
        assert json.loads(line) == {"registered": 200}
        user, password = credentials(hotline, technician.id)
        outcome = dial_dispatch(hotline, user, password, 16, "--play", speech, "--play-at", 9,  # after her reply
                                "--record", tmp_path / "tech.wav")
        assert outcome["answered"]
        out, _ = dispatcher.communicate(timeout=20)
    finally:
        if dispatcher.poll() is None:
            dispatcher.terminate()
            dispatcher.wait(10)
    result = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
    assert result["answered"] and result["ended"], hotline.logs()  # the technician's hang-up ended both legs
    heard_by_tech, heard_by_desk = likeness(tmp_path / "tech.wav", reply), likeness(tmp_path / "desk.wav", speech)
    assert heard_by_tech > 0.8, (heard_by_tech, likeness(tmp_path / "tech.wav", speech))
    assert heard_by_desk > 0.6, (heard_by_desk, likeness(tmp_path / "desk.wav", reply))
    assert likeness(tmp_path / "desk.wav", reply) < heard_by_desk - 0.2  # not an echo of her own side

    row = stored_call(container, kinds=("call",), timeout=25)[0]
    assert row["ivr_path"][-2:] == ["to_dispatcher", "transferred"] and row["from_number"] == technician.phone
    (recording,) = recording_rows(container.engine, row["id"])
    assert likeness(blob_path(container, recording), reply) > 0.6  # her side is in the call's recording...
    assert likeness(blob_path(container, recording), speech) > 0.6  # ...and his


def start_desk(hotline, container, org, *args):
    """Petrova, the dispatcher on duty, registered (her staff record must exist before the hotline starts)."""
    desk = container.registry.list_staff(org.id, role="dispatcher")[0]
    user, password = credentials(hotline, desk.id)
    proc = subprocess.Popen([PY, "-m", "telephony.staff_calls", "answer", f"sip:127.0.0.1:{hotline.port}", user,
                             password, *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = ""
    while not line.startswith("{"):
        line = proc.stdout.readline()
        assert line, "the dispatcher's softphone exited"
    assert json.loads(line) == {"registered": 200}
    return proc


def desk_outcome(proc) -> dict:
    out, _ = proc.communicate(timeout=40)
    return json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])


def test_a_technician_who_gives_up_while_she_rings_or_a_dispatcher_who_hangs_up_first_end_cleanly(
        hotline_factory, org, technician, container, speech):
    container.registry.upsert_staff(org.id, SYSTEM, {"full_name": "Петрова Анна Сергеевна", "role": "dispatcher",
                                                     "phone": "+7 912 000-00-02", "sip_account": "petrova"})
    hotline = hotline_factory(workers=2, HOTLINE_IVR_TRANSFER_TIMEOUT_S=20)
    user, password = credentials(hotline, technician.id)

    ringing = start_desk(hotline, container, org, "--ring", 30, "--timeout", 30)
    gave_up = dial_dispatch(hotline, user, password, 5)  # the prompt, then 2-3 s of ringing
    assert gave_up["answered"] and gave_up["hung_up_here"]
    assert desk_outcome(ringing) == {"registered": 200, "rang": True, "answered": False, "ended": True}
    (first,) = stored_call(container, kinds=("call",))
    assert first["ivr_path"] == ["to_dispatcher"] and first["callback_reason"] == "abandoned_in_queue"

    short = start_desk(hotline, container, org, "--hangup-after", 2)
    cut_off = dial_dispatch(hotline, user, password, 20, "--play", speech, "--play-at", 1)
    assert cut_off["answered"] and not cut_off["hung_up_here"]  # the hotline ended his leg when she left
    assert desk_outcome(short) == {"registered": 200, "rang": True, "answered": True, "ended": True}
    second = stored_call(container, count=2, kinds=("call",))[1]
    assert second["ivr_path"][-2:] == ["to_dispatcher", "transferred"]
    (recording,) = recording_rows(container.engine, second["id"])
    kept = envelope(blob_path(container, recording))  # kept: the prompt, the ringing, what was said before she left
    assert len(kept) >= 30 and kept.max() > 500
