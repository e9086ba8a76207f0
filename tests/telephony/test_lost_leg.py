"""A bridge that loses one leg without a BYE (issue 8, bad input): a softphone killed -9 mid-call sends nothing
more. The worker's media watchdog (`[sip] media_timeout_s`, here 4 s) hangs up the silent leg and the other party,
records hangup cause ``media_timeout``, and stores the call's recording with what was said before the loss. A
normal bridged call longer than the timeout is not cut."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import datetime, timezone

import sqlalchemy as sa

from journal_api.storage import tables as jt
from sip_support import PY, ROOT, blob_path, recording_rows, stored_call, wait_for
from test_staff_calls import (HER, HIS, NO_REQUEST, SYSTEM, credentials, desk_outcome, likeness, random_pattern,
                              rhythm, start_desk)

TIMEOUT_S = 4


def add_desk(container, org):
    return container.registry.upsert_staff(org.id, SYSTEM, {
        "full_name": "Петрова Анна Сергеевна", "role": "dispatcher", "phone": "+7 912 000-00-02",
        "sip_account": "petrova"})


def technician_call(hotline, user: str, password: str, hold: float, *extra) -> subprocess.Popen:
    return subprocess.Popen([PY, "-m", "telephony.staff_calls", "call", f"sip:dispatch@127.0.0.1:{hotline.port}",
                             user, password, "--hold", str(hold), *map(str, extra)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)


def last_json(proc: subprocess.Popen, timeout: float = 60) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    return json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])


def bridged(hotline, timeout: float = 30) -> float:
    """Wait until the worker has bridged a call (its spool manifest says so); returns the monotonic time then."""
    def seen():
        for path in (hotline.data_dir / "spool" / "calls").glob("*.json"):
            try:
                if json.loads(path.read_text()).get("bridged_at"):
                    return True
            except (OSError, ValueError):
                pass
        return False
    wait_for(seen, timeout, every=0.1, message="the bridge")
    return time.monotonic()


def ended_within(proc: subprocess.Popen, limit: float) -> float:
    """Seconds until ``proc`` (a softphone whose call the hotline must end) exits; fails past ``limit``."""
    start = time.monotonic()
    proc.wait(limit)
    took = time.monotonic() - start
    print(f"the far end's call ended {took:.1f} s after the kill (media timeout {TIMEOUT_S} s)")
    return took


def tone(tmp_path, name: str, seed: int, hz: int, pad: float = 0.0):
    path = tmp_path / f"{name}.wav"
    rhythm(path, random_pattern(seed, 5.0), hz=hz)
    if pad:
        padded = tmp_path / f"{name}-padded.wav"
        subprocess.run(["sox", str(path), str(padded), "pad", str(pad), "0"], check=True)
        return path, padded
    return path, path


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def reap(*procs: subprocess.Popen) -> None:
    """Kill whatever softphone a failed assertion left running."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_dispatcher_whose_softphone_dies_mid_call_is_dropped_and_the_technician_hung_up_recording_kept(
        hotline_factory, org, technician, container, tmp_path):
    add_desk(container, org)
    hotline = hotline_factory(workers=2, HOTLINE_SIP_MEDIA_TIMEOUT_S=TIMEOUT_S)
    reply, spoken = tone(tmp_path, "reply", 3, HER[0], pad=1.5)  # she answers, then her rhythm 1.5-6.5 s
    desk = start_desk(hotline, container, org, "--play", spoken, "--timeout", 90)
    user, password = credentials(hotline, technician.id)
    tech = technician_call(hotline, user, password, 60, *NO_REQUEST)
    try:
        bridged(hotline)
        time.sleep(8)  # her rhythm is over
        kill(desk)  # no BYE: her RTP just stops
        took = ended_within(tech, TIMEOUT_S + 10)
        result = last_json(tech)
    finally:
        reap(desk, tech)
    assert result["answered"] and not result["hung_up_here"], result  # the hotline ended his leg
    assert TIMEOUT_S - 1 <= took <= TIMEOUT_S + 6, took
    row = stored_call(container, kinds=("call",), timeout=30)[0]
    assert row["hangup_cause"] == "media_timeout" and row["ended_at"] is not None, dict(row)
    assert row["ivr_path"][-2:] == ["to_dispatcher", "transferred"] and row["from_number"] == technician.phone
    (recording,) = recording_rows(container.engine, row["id"])
    assert likeness(blob_path(container, recording), reply, *HER) > 0.6  # what she said before her phone died
    assert recording["duration_s"] >= 8 + TIMEOUT_S, recording["duration_s"]  # up to the hang-up, not cut short


def test_a_technician_whose_softphone_dies_mid_call_leaves_the_dispatcher_a_bye(
        hotline_factory, org, technician, container, tmp_path):
    add_desk(container, org)
    hotline = hotline_factory(workers=2, HOTLINE_SIP_MEDIA_TIMEOUT_S=TIMEOUT_S)
    desk = start_desk(hotline, container, org, "--timeout", 90)
    said, _ = tone(tmp_path, "said", 4, HIS[0])
    user, password = credentials(hotline, technician.id)
    tech = technician_call(hotline, user, password, 60, "--play", said, "--play-at", 9, *NO_REQUEST)
    try:
        bridged(hotline)
        time.sleep(10)  # his rhythm (9-14 s after the answer) is over
        kill(tech)
        took = ended_within(desk, TIMEOUT_S + 10)
        outcome = desk_outcome(desk)
    finally:
        reap(desk, tech)
    assert outcome == {"registered": 200, "rang": True, "answered": True, "ended": True}  # a BYE reached her
    assert TIMEOUT_S - 1 <= took <= TIMEOUT_S + 6, took
    row = stored_call(container, kinds=("call",), timeout=30)[0]
    assert row["hangup_cause"] == "media_timeout" and row["ended_at"] is not None, dict(row)
    (recording,) = recording_rows(container.engine, row["id"])
    assert likeness(blob_path(container, recording), said, *HIS) > 0.6  # what he said before his phone died


def test_a_bridged_call_longer_than_the_media_timeout_is_not_cut(hotline_factory, org, technician, container):
    add_desk(container, org)
    hotline = hotline_factory(workers=2, HOTLINE_SIP_MEDIA_TIMEOUT_S=TIMEOUT_S)
    desk = start_desk(hotline, container, org, "--timeout", 90)  # both sides silent: RTP flows all the same
    user, password = credentials(hotline, technician.id)
    tech = technician_call(hotline, user, password, 24, *NO_REQUEST)
    try:
        at = bridged(hotline)
        result = last_json(tech)
        talk = time.monotonic() - at
        outcome = desk_outcome(desk)
    finally:
        reap(desk, tech)
    assert result["answered"] and result["hung_up_here"], result  # he hung up himself, at 24 s
    assert talk >= 3 * TIMEOUT_S, talk
    assert outcome == {"registered": 200, "rang": True, "answered": True, "ended": True}
    row = stored_call(container, kinds=("call",), timeout=30)[0]
    assert row["hangup_cause"] != "media_timeout", dict(row)


def test_a_resident_whose_phone_goes_silent_while_describing_is_hung_up_and_the_description_registered(
        hotline_factory, org, building, container, speech):
    # A long silence limit: without the watchdog the description would wait 30 s of silence for a caller who is gone.
    hotline = hotline_factory(HOTLINE_SIP_MEDIA_TIMEOUT_S=TIMEOUT_S, HOTLINE_IVR_RECORD_SILENCE_S=30)
    resident = subprocess.Popen([PY, "-m", "journal_api.cli", "call", hotline.uri, "--from",
                                 "sip:+79161112233@127.0.0.1", "--dtmf", "2@2,1@4.5,12#@7", "--play", str(speech),
                                 "--timeout", "90"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: list((hotline.data_dir / "spool" / "live").glob("*-description.wav")), 40, every=0.1,
                 message="the description being recorded")
        time.sleep(3)  # the beep, then about 2 s of what he says
        kill(resident)
        killed = datetime.now(timezone.utc)
    finally:
        reap(resident)
    (row,) = stored_call(container, kinds=("call", "description"), timeout=40)
    assert row["hangup_cause"] == "media_timeout", dict(row)
    assert (row["ended_at"] - killed).total_seconds() <= TIMEOUT_S + 6, (row["ended_at"], killed)
    with container.engine.connect() as conn:
        req = conn.execute(sa.select(jt.requests).where(jt.requests.c.id == row["request_id"])).mappings().one()
    assert req["apartment"] == 12 and req["channel"] == "phone"  # what he described became a request
    recs = {r["kind"]: r for r in recording_rows(container.engine, row["id"])}
    assert recs["description"]["request_id"] == req["id"]
    assert 1.0 < recs["description"]["duration_s"] < 4 + TIMEOUT_S + 2, recs["description"]["duration_s"]
