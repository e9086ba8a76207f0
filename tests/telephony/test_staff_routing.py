"""Staff calls at Kamailio (issue 8 §1, docs/staff_calls.md): the short number, the dispatchers on duty decided
at call time and rung in parallel (baresip on one desk, the pjsua2 softphone on the other), a dispatcher calling a
technician through a worker, a technician refused when he calls another technician."""
from __future__ import annotations

import json
import subprocess
import threading
from datetime import datetime, timedelta, timezone

import test_staff_calls as staff
from sip_support import PY, ROOT, baresip_sip_port, blob_path, call_rows, recording_rows, stored_call, wait_for
from journal_api.domain.events import Actor
from telephony import kamailio
from telephony.netutil import free_udp_range

SYSTEM = Actor.system("test")
NO_REQUEST = staff.NO_REQUEST  # "#": the call is not about a request

BARESIP = """module_path\t/usr/lib/baresip/modules
poll_method\tepoll
sip_listen\t127.0.0.1:{sip}
call_max_calls\t1
audio_player\taubridge,desk
audio_alert\taubridge,desk
audio_source\taufile,{mic}
rtp_ports\t{rtp}-{rtp_end}
snd_path\t{dump}
module\tg711.so
module\taufile.so
module\taubridge.so
module\tsndfile.so
module_tmp\tuuid.so
module_tmp\taccount.so
module_app\tmenu.so
"""


def dispatcher(container, org, name: str, account: str, phone: str):
    return container.registry.upsert_staff(org.id, SYSTEM, {"full_name": name, "role": "dispatcher", "phone": phone,
                                                            "sip_account": account})


def shift(container, org, person, start: timedelta, end: timedelta) -> None:
    now = datetime.now(timezone.utc)
    container.schedules.add_shift(org.id, SYSTEM, person.id, now + start, now + end)


def run_dir(hotline):
    return next((hotline.data_dir / "run").glob("sip-*"))


def duty(hotline) -> list[str]:
    return kamailio.read_duty(run_dir(hotline) / "dbtext")


def pjsua_desk(hotline, person, *args) -> subprocess.Popen:
    """A dispatcher's pjsua2 softphone, registered (retried until the supervisor's refresh knows her)."""
    user, password = staff.credentials(hotline, person.id)
    wait_for(lambda: staff.register(hotline, user, password) == 200, 15, every=0.5,
             message=f"{user}'s credentials at Kamailio")
    return staff.start_desk(hotline, None, None, *args, person=person)


def outcome(proc: subprocess.Popen, timeout: float = 40) -> dict:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])


def dial(hotline, number: str, user: str, password: str, hold: float = 2, *extra) -> dict:
    proc = subprocess.run([PY, "-m", "telephony.staff_calls", "call", f"sip:{number}@127.0.0.1:{hotline.port}", user,
                           password, "--hold", str(hold), *map(str, extra)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(lines[-1])


class BaresipDesk:
    """A dispatcher's baresip: registered with her staff credentials, answers at once (answermode=auto), speaks
    ``mic`` and dumps what it hears (sndfile: ``*-dec.wav``)."""

    def __init__(self, hotline, person, mic, tmp_path):
        user, password = staff.credentials(hotline, person.id)
        conf, self.dump = tmp_path / "baresip", tmp_path / "dump"
        conf.mkdir()
        self.dump.mkdir()
        rtp = free_udp_range(10)
        (conf / "config").write_text(BARESIP.format(sip=baresip_sip_port(), mic=mic, rtp=rtp, rtp_end=rtp + 9,
                                                    dump=self.dump))
        (conf / "accounts").write_text(f"<sip:{user}@127.0.0.1:{hotline.port}>;auth_pass={password};"
                                       "answermode=auto;regint=600\n")
        self.output: list[str] = []
        self.proc = subprocess.Popen(["baresip", "-f", str(conf), "-t", "90"], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, errors="replace",
                                     cwd=tmp_path)
        threading.Thread(target=lambda: self.output.extend(self.proc.stdout), daemon=True).start()
        wait_for(lambda: staff.registered(hotline, user), 15, message=f"baresip registered as {user}")

    def text(self) -> str:
        return "".join(self.output)

    def heard(self):
        return wait_for(lambda: next(iter(sorted(self.dump.glob("*dec*.wav"))), None), 10, message="baresip's dump")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def test_the_short_number_rings_both_dispatchers_at_once_the_first_is_bridged_and_the_call_lands_on_his_request(
        hotline_factory, org, building, technician, container, tmp_path):
    """The issue's proof: baresip on one desk, the pjsua2 softphone on the other and on the technician's side."""
    sidorova = dispatcher(container, org, "Сидорова Мария Ивановна", "sidorova", "+7 912 000-00-03")
    petrova = dispatcher(container, org, "Петрова Анна Сергеевна", "petrova", "+7 912 000-00-02")
    number = staff.open_request(container, org, building, technician)  # his only open request: taken, said back
    reply, said = tmp_path / "reply.wav", tmp_path / "said.wav"  # each side its own sound
    staff.rhythm(reply, staff.random_pattern(3, 5.0), hz=staff.HER[0])
    staff.rhythm(said, staff.random_pattern(4, 5.0), hz=staff.HIS[0])
    mic = tmp_path / "mic.wav"  # baresip speaks from the moment it answers: 1.5 s of silence, her rhythm, silence
    subprocess.run(["sox", str(reply), str(mic), "pad", "1.5", "30"], check=True)
    hotline = hotline_factory(workers=2, HOTLINE_IVR_TRANSFER_TIMEOUT_S=20)
    assert duty(hotline) == ["petrova", "sidorova"]  # no rota in this organisation: every dispatcher is on duty
    desk = BaresipDesk(hotline, sidorova, mic, tmp_path)
    try:
        ringing = pjsua_desk(hotline, petrova, "--ring", 30, "--timeout", 60)  # she would answer after 30 s
        user, password = staff.credentials(hotline, technician.id)
        # "Заявка номер 1", "Соединяю с диспетчером", baresip answers at once; he speaks after her rhythm
        call = dial(hotline, "100", user, password, 21, "--play", said, "--play-at", 14, "--record",
                    tmp_path / "tech.wav")
        assert call["answered"], hotline.logs()
        # Petrova's phone rang and was CANCELled when Sidorova (baresip) picked up, long before her 30 s.
        assert outcome(ringing, 20) == {"registered": 200, "rang": True, "answered": False, "ended": True}
        log = (run_dir(hotline) / "kamailio.log").read_text()
        assert "HOTLINE-RING|" in log and log.split("HOTLINE-RING|")[-1].split("|")[1].strip() == "2", log[-3000:]
        text = desk.text()
        assert "Call established" in text or "established" in text.lower(), text[-3000:]
        heard_by_desk = desk.heard()
    finally:
        desk.stop()
    tech = tmp_path / "tech.wav"
    heard_by_tech, not_her = staff.likeness(tech, reply, *staff.HER), staff.likeness(tech, said, *staff.HIS)
    heard_by_her = staff.likeness(heard_by_desk, said, *staff.HIS)
    not_him = staff.likeness(heard_by_desk, reply, *staff.HER)
    assert heard_by_tech > 0.6 and not_her < heard_by_tech - 0.3, (heard_by_tech, not_her)
    assert heard_by_her > 0.6 and not_him < heard_by_her - 0.3, (heard_by_her, not_him)
    row = stored_call(container, kinds=("call",), timeout=25)[0]
    assert row["to_number"] == "dispatch" and row["from_number"] == technician.phone  # "100" is "dispatch"
    assert row["ivr_path"][-2:] == ["to_dispatcher", "transferred"], row["ivr_path"]
    request = container.requests.get(org.id, number, SYSTEM)
    (recording,) = recording_rows(container.engine, row["id"])
    assert row["request_id"] == recording["request_id"] == request.id  # the call and its recording: on the request
    assert staff.likeness(blob_path(container, recording), reply, *staff.HER) > 0.6  # both sides in the recording
    assert staff.likeness(blob_path(container, recording), said, *staff.HIS) > 0.6
    (entry,) = wait_for(lambda: staff.staff_history(container, org, number), 10, message="the history entry")
    assert entry.actor_name == technician.full_name and f"№ {recording['id']}" in entry.note, entry.note


def test_the_dispatchers_on_duty_are_decided_at_call_time(hotline_factory, org, technician, container):
    petrova = dispatcher(container, org, "Петрова Анна Сергеевна", "petrova", "+7 912 000-00-02")
    hotline = hotline_factory(workers=2, HOTLINE_IVR_TRANSFER_TIMEOUT_S=10)
    user, password = staff.credentials(hotline, technician.id)

    # After the start: Sidorova joins the staff with a shift that covers now; Petrova's shift ended an hour ago.
    sidorova = dispatcher(container, org, "Сидорова Мария Ивановна", "sidorova", "+7 912 000-00-03")
    shift(container, org, sidorova, timedelta(hours=-1), timedelta(hours=11))
    shift(container, org, petrova, timedelta(hours=-13), timedelta(hours=-1))
    wait_for(lambda: duty(hotline) == ["sidorova"], 15, message="the duty table rewritten")
    on_duty = pjsua_desk(hotline, sidorova, "--hangup-after", 2, "--timeout", 40)
    off_duty = pjsua_desk(hotline, petrova, "--timeout", 25)  # registered, would answer at once if rung
    answered = dial(hotline, "dispatch", user, password, 12, *NO_REQUEST)
    assert answered["answered"]
    assert outcome(on_duty) == {"registered": 200, "rang": True, "answered": True, "ended": True}
    assert outcome(off_duty) == {"registered": 200, "rang": False, "answered": False, "ended": False}
    row = stored_call(container, kinds=("call",), timeout=25)[0]
    assert row["ivr_path"][-2:] == ["to_dispatcher", "transferred"], row["ivr_path"]

    # Sidorova is disabled: nobody is on shift any more, so every dispatcher is on duty again - Petrova too.
    container.registry.update_staff(org.id, SYSTEM, sidorova.id, {"active": False})
    wait_for(lambda: duty(hotline) == ["petrova"], 15, message="the duty table rewritten")
    back = pjsua_desk(hotline, petrova, "--hangup-after", 2, "--timeout", 40)
    assert dial(hotline, "dispatch", user, password, 12, *NO_REQUEST)["answered"]
    assert outcome(back) == {"registered": 200, "rang": True, "answered": True, "ended": True}


def test_a_technician_rings_only_the_dispatchers_of_his_own_organisation(
        hotline_factory, org, other_org, technician, container):
    petrova = dispatcher(container, org, "Петрова Анна Сергеевна", "petrova", "+7 912 000-00-02")
    volkova = container.registry.upsert_staff(other_org.id, SYSTEM, {  # the other УК's desk, on the same Kamailio
        "full_name": "Волкова Ольга Петровна", "role": "dispatcher", "phone": "+7 912 000-00-05",
        "sip_account": "volkova"})
    hotline = hotline_factory(workers=2, HOTLINE_IVR_TRANSFER_TIMEOUT_S=10)
    duty_orgs = kamailio.read_duty(run_dir(hotline) / "dbtext", orgs=True)
    assert duty_orgs == [("petrova", org.id), ("volkova", other_org.id)]
    other_desk = pjsua_desk(hotline, volkova, "--timeout", 25)  # registered first, would answer at once if rung
    own_desk = pjsua_desk(hotline, petrova, "--hangup-after", 2, "--timeout", 40)
    user, password = staff.credentials(hotline, technician.id)
    assert dial(hotline, "dispatch", user, password, 12, *NO_REQUEST)["answered"]
    assert outcome(own_desk) == {"registered": 200, "rang": True, "answered": True, "ended": True}
    assert outcome(other_desk) == {"registered": 200, "rang": False, "answered": False, "ended": False}
    log = (run_dir(hotline) / "kamailio.log").read_text()
    assert log.split("HOTLINE-RING|")[-1].split("|")[1].strip() == "1", log[-3000:]  # one desk rung, not two


def test_a_dispatcher_calls_a_technician_through_a_worker_and_a_technician_may_not(
        hotline_factory, org, technician, container):
    petrova = dispatcher(container, org, "Петрова Анна Сергеевна", "petrova", "+7 912 000-00-02")
    container.registry.upsert_staff(org.id, SYSTEM, {
        "full_name": "Сидоров Пётр Петрович", "role": "technician", "phone": "+7 912 000-00-04",
        "sip_account": "sidorov"})
    hotline = hotline_factory(workers=2)
    tech_user, tech_password = staff.credentials(hotline, technician.id)
    desk_user, desk_password = staff.credentials(hotline, petrova.id)

    refused = dial(hotline, "sidorov", tech_user, tech_password)  # a technician calls dispatch, not a colleague
    assert not refused["answered"] and refused["code"] == 403
    wrong = dial(hotline, "ivanov", desk_user, desk_password[::-1])
    assert not wrong["answered"] and wrong["code"] in (401, 403, 407)
    for reserved in ("dispatchers", "to-ivanov"):  # the workers' own targets are not dialled from outside
        assert dial(hotline, reserved, desk_user, desk_password)["code"] == 403
    assert not call_rows(container.engine)  # none of these reached a worker

    reached = dial(hotline, "ivanov", desk_user, desk_password, 3)
    assert reached["answered"], hotline.logs()
    (row,) = wait_for(lambda: [r for r in call_rows(container.engine) if r["ended_at"]], 20, message="the call")
    assert row["to_number"] == f"to-{technician.sip_account}"  # the worker's staff flow calls him (contracts §2)


def test_the_on_duty_rule_per_organisation():
    from types import SimpleNamespace as Row

    from telephony.supervisor import on_duty

    now = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
    hour = timedelta(hours=1)
    staff_rows = [Row(id=1, org_id=1, role="dispatcher", sip_account="anna"),
                  Row(id=2, org_id=1, role="dispatcher", sip_account="olga"),
                  Row(id=3, org_id=1, role="technician", sip_account="ivan"),
                  Row(id=4, org_id=2, role="dispatcher", sip_account="vera"),
                  Row(id=5, org_id=2, role="dispatcher", sip_account="zoya")]
    shifts = [Row(staff_id=1, starts_at=now - hour, ends_at=now + hour, kind="shift"),
              Row(staff_id=2, starts_at=now - 3 * hour, ends_at=now - hour, kind="shift"),  # over
              Row(staff_id=3, starts_at=now - hour, ends_at=now + hour, kind="shift")]
    sick = [Row(staff_id=5, starts_at=now - hour, ends_at=now + 9 * hour, kind="sick_leave")]
    # org 1: Anna on shift, Olga's is over, the technician never; org 2 has no one on shift: all but the sick one.
    assert on_duty(staff_rows, shifts, sick, now) == [("anna", 1), ("vera", 2)]
    # Anna falls ill: nobody of org 1 is on shift any more, so every dispatcher of it who is not absent (Olga).
    assert on_duty(staff_rows, shifts, sick + [Row(staff_id=1, starts_at=now, ends_at=now + hour, kind="sick_leave")],
                   now) == [("olga", 1), ("vera", 2)]
    assert on_duty(staff_rows, [], [], now) == [("anna", 1), ("olga", 1), ("vera", 2), ("zoya", 2)]  # no rota: all
