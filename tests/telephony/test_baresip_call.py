"""baresip calls the hotline: its microphone is a WAV file (aufile), its keys go through its UDP console, and what
it hears is dumped to a WAV (sndfile): the request's number said back is checked there."""
from __future__ import annotations

import socket
import subprocess
import threading
import time

import sqlalchemy as sa

from ivr_flows.prompts import catalogue_for
from ivr_flows.say import number_prompts
from journal_api.storage import tables as jt
from sip_audio import match_fraction
from sip_support import baresip_sip_port, blob_path, recording_rows, stored_call
from telephony.netutil import free_port, free_udp_range

CONFIG = """module_path\t/usr/lib/baresip/modules
poll_method\tepoll
sip_listen\t127.0.0.1:{sip}
call_max_calls\t1
audio_player\taubridge,hotline
audio_alert\taubridge,hotline
audio_source\taufile,{mic}
rtp_ports\t{rtp}-{rtp_end}
module\tcons.so
module\tg711.so
module\taufile.so
module\taubridge.so
module\tsndfile.so
snd_path\t{dump}
module_tmp\tuuid.so
module_tmp\taccount.so
module_app\tmenu.so
cons_listen\t127.0.0.1:{cons}
"""


def test_baresip_with_a_wav_microphone_registers_a_request_and_hears_its_number(hotline, container, speech,
                                                                                tmp_path, settings):
    # The microphone: 18.5 s of silence (the menus), the Russian phrase, then silence until the IVR hangs up.
    # The apartment is keyed without '#' (the gather ends 3 s after the last key): baresip's console sends a
    # stray '#' event later, which would end the description early.
    mic = tmp_path / "mic.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", tmp_path / "pre.wav", "trim", "0", "18.5"],
                   check=True)
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", tmp_path / "post.wav", "trim", "0", "40"],
                   check=True)
    subprocess.run(["sox", tmp_path / "pre.wav", speech, tmp_path / "post.wav", mic], check=True)
    conf = tmp_path / "baresip"
    conf.mkdir()
    cons, rtp = free_port(socket.SOCK_STREAM), free_udp_range(10)
    dump = tmp_path / "dump"
    dump.mkdir()
    (conf / "config").write_text(CONFIG.format(sip=baresip_sip_port(), mic=mic, rtp=rtp, rtp_end=rtp + 9, cons=cons,
                                               dump=dump))
    (conf / "accounts").write_text("<sip:+79168889900@127.0.0.1>;regint=0\n")

    proc = subprocess.Popen(["baresip", "-f", str(conf), "-e", f"/dial {hotline.uri}", "-t", "70"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            errors="replace", cwd=tmp_path)
    output: list[str] = []
    established = threading.Event()

    def read():
        for line in proc.stdout:
            output.append(line)
            if "Call established" in line:
                established.set()
    threading.Thread(target=read, daemon=True).start()
    try:
        assert established.wait(20), "".join(output)[-3000:]
        start = time.monotonic()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for at, keys in ((2.0, "2"), (4.5, "1"), (7.0, "12")):
                time.sleep(max(0.0, start + at - time.monotonic()))
                for key in keys:
                    sock.sendto(key.encode(), ("127.0.0.1", cons))
                    time.sleep(0.25)
        (call,) = stored_call(container, kinds=("call", "description"), timeout=60)
    finally:
        proc.terminate()
        proc.wait(10)
    assert "".join(call["digits"]).startswith("2112"), call["digits"]
    with container.engine.connect() as conn:
        req = conn.execute(sa.select(jt.requests).where(jt.requests.c.id == call["request_id"])).mappings().one()
    assert req["work_type"] == "water" and req["apartment"] == 12 and req["caller_phone"] == "+79168889900"
    recs = {r["kind"]: r for r in recording_rows(container.engine, call["id"])}
    assert match_fraction(blob_path(container, recs["description"]), speech) >= 0.8
    # What baresip heard (sndfile's decoded stream): "номер вашей заявки" and the number, digit by digit.
    (heard,) = list(dump.glob("*dec*.wav"))
    cat = catalogue_for(settings)
    assert match_fraction(heard, cat.path("ivr/your_request_number")) >= 0.6
    for prompt in number_prompts(req["number"], digits=True):
        assert match_fraction(heard, cat.path(prompt)) >= 0.5, prompt
    assert match_fraction(heard, cat.path("ivr/callback_promised")) < 0.2  # a prompt it did not play
