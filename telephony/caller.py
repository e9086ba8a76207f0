"""`hotline call`: a pjsua2 test caller for the tests, the benchmarks and an engineer trying a live hotline.

It dials a SIP URI, records what it hears, and follows a small script: each ``--dtmf`` item is sent when the IVR
falls silent after speaking (``--gap`` seconds), or at a fixed time after the answer with ``DIGITS@SECONDS``; the
``--play`` file is played once the digits are sent and the IVR has beeped (a pure tone; ``--play-when silence``:
when it falls silent instead), or at ``--play-at SECONDS``. It ends when the far end hangs up,
``--hangup-after`` seconds after the playback, ``--hangup-at`` seconds after the answer, or at ``--timeout``.
It prints one JSON line describing the call.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import pjsua2 as pj

from . import endpoint as ep_mod
from .netutil import free_port, free_udp_range

VOICE_RMS = 300.0


@dataclass
class Script:
    dtmf: list[tuple[str, float | None]] = field(default_factory=list)  # (digits, at seconds or None: on silence)
    play: str | None = None
    play_at: float | None = None
    play_when: str = "beep"  # beep: after the IVR's next beep; silence: when the IVR falls silent (--gap)
    hangup_after: float | None = None  # seconds after the playback ends
    hangup_at: float | None = None  # seconds after the answer
    gap: float = 1.0
    method: str = "rfc2833"
    timeout: float = 60.0


def parse_dtmf(text: str | None) -> list[tuple[str, float | None]]:
    items = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        digits, _, at = part.partition("@")
        items.append((digits, float(at) if at else None))
    return items


class Heard:
    """Watches the heard-audio WAV as it grows: when did the far end last speak?"""

    def __init__(self, path: str):
        self.path, self.offset, self.audio_s, self.last_voice, self.voiced = path, 44, 0.0, None, 0.0
        self.tone_ends: list[float] = []  # where each beep (a pure tone) ended, in audio seconds
        self._in_tone = False

    def update(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return
        usable = len(data) - len(data) % 1600
        if not usable:
            return
        blocks = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32).reshape(-1, 800)
        rms = np.sqrt((blocks * blocks).mean(axis=1))
        spectrum = np.abs(np.fft.rfft(blocks, axis=1)) ** 2
        tonal = spectrum.max(axis=1) / np.maximum(spectrum.sum(axis=1), 1e-9) > 0.8
        for i, value in enumerate(rms):
            loud = value > VOICE_RMS
            if loud:
                self.last_voice = self.audio_s + (i + 1) * 0.1
                self.voiced += 0.1
            if loud and tonal[i]:
                self._in_tone = True
            elif self._in_tone:
                self._in_tone = False
                self.tone_ends.append(self.audio_s + i * 0.1)
        self.audio_s += len(rms) * 0.1
        self.offset += usable

    def beep_after(self, mark: float) -> bool:
        return any(end > mark for end in self.tone_ends)

    def silent_for(self, seconds: float, since_voice_after: float = 0.0) -> bool:
        """The far end spoke after ``since_voice_after`` (audio seconds) and has been silent ``seconds`` since."""
        return (self.last_voice is not None and self.last_voice > since_voice_after
                and self.audio_s - self.last_voice >= seconds)


class _Call(pj.Call):
    def __init__(self, acc):
        super().__init__(acc)
        self.state, self.code, self.media = None, None, False

    def onCallState(self, prm):
        info = self.getInfo()
        self.state, self.code = info.state, info.lastStatusCode

    def onCallMediaState(self, prm):
        self.media = True


def run_call(uri: str, script: Script, *, record_heard: str | None = None, from_uri: str | None = None,
             log_level: int = 0) -> dict:
    events = ep_mod.Events()
    host = "127.0.0.1"
    ep, acc = ep_mod.create_endpoint(events, host=host, port=free_port(), rtp_port=free_udp_range(4),
                                     rtp_range=4, max_calls=4, log_level=log_level, user_agent="hotline-caller")
    heard_path = record_heard or tempfile.mkstemp(suffix=".wav", prefix="heard-")[1]
    result = {"uri": uri, "connected": False, "sent": [], "heard": record_heard}
    call = player = recorder = None
    try:
        if from_uri:
            cfg = pj.AccountConfig()
            cfg.idUri = from_uri
            cfg.mediaConfig.transportConfig.port = free_udp_range(4)
            cfg.mediaConfig.transportConfig.portRange = 4
            acc.modify(cfg)
        call = _Call(acc)
        t0 = time.monotonic()
        call.makeCall(uri, ep_mod.call_param())
        answered = None
        heard = Heard(heard_path)
        queue = list(script.dtmf)
        voice_mark, play_started, play_ends, ended_by = 0.0, None, None, "remote"
        while True:
            ep.libHandleEvents(10)
            now = time.monotonic()
            if call.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                break
            if now - t0 > script.timeout:
                ended_by = "timeout"
                break
            if answered is None and call.state == pj.PJSIP_INV_STATE_CONFIRMED and call.media:
                answered = now
                result.update(connected=True, setup_ms=round((now - t0) * 1000, 1))
                audio = ep_mod.call_audio(call)
                recorder = ep_mod.make_recorder(heard_path)
                audio.startTransmit(recorder)
            if answered is None:
                continue
            t = now - answered
            heard.update()
            if script.hangup_at is not None and t >= script.hangup_at:
                ended_by = "local"
                break
            if queue:
                digits, at = queue[0]
                due = t >= at if at is not None else heard.silent_for(script.gap, voice_mark)
                if due:
                    send_dtmf(call, digits, script.method)
                    result["sent"].append({"digits": digits, "at": round(t, 2)})
                    voice_mark = heard.audio_s
                    queue.pop(0)
                continue
            if script.play and play_started is None:
                if script.play_at is not None:
                    due = t >= script.play_at
                elif script.play_when == "beep":
                    due = heard.beep_after(voice_mark)
                else:
                    due = heard.silent_for(script.gap, voice_mark)
                if due:
                    player = ep_mod.make_player([script.play])
                    player.startTransmit(ep_mod.call_audio(call))
                    play_started = t
                    play_ends = t + wav_seconds(script.play)
                    result["played_at"] = round(t, 2)
            if play_ends is not None and script.hangup_after is not None and t >= play_ends + script.hangup_after:
                ended_by = "local"
                break
        if call.state != pj.PJSIP_INV_STATE_DISCONNECTED and call.state is not None:
            call.hangup(ep_mod.call_param())
            end = time.monotonic() + 2
            while call.state != pj.PJSIP_INV_STATE_DISCONNECTED and time.monotonic() < end:
                ep.libHandleEvents(10)
        result.update(ended_by=ended_by, status=call.code, heard_s=round(heard.audio_s, 2),
                      duration_s=round(time.monotonic() - (answered or t0), 2))
    finally:
        player = recorder = None
        call = None
        acc.shutdown()
        ep.libDestroy()
        if not record_heard:
            os.unlink(heard_path)
    return result


def send_dtmf(call, digits: str, method: str) -> None:
    if method == "info":
        prm = pj.CallSendDtmfParam()
        prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
        prm.digits = digits
        prm.duration = 160
        call.sendDtmf(prm)
    else:
        call.dialDtmf(digits)


def wav_seconds(path: str) -> float:
    import wave

    with wave.open(path) as wav:
        return wav.getnframes() / float(wav.getframerate())


def command(cli) -> None:
    import click

    @cli.command("call")
    @click.argument("uri")
    @click.option("--play", "play", type=click.Path(exists=True, dir_okay=False), help="WAV to speak into the call")
    @click.option("--dtmf", default="", help="digit groups: 1,2,105# (each when the IVR falls silent) or 1@2.5")
    @click.option("--dtmf-method", type=click.Choice(["rfc2833", "info"]), default="rfc2833")
    @click.option("--record-heard", type=click.Path(dir_okay=False), help="write what the caller hears here")
    @click.option("--from", "from_uri", help="the caller's URI, e.g. sip:+79123456789@127.0.0.1")
    @click.option("--play-at", type=float, help="play at this many seconds after the answer")
    @click.option("--play-when", type=click.Choice(["beep", "silence"]), default="beep", show_default=True,
                  help="play after the IVR's beep, or when it falls silent")
    @click.option("--hangup-after", type=float,
                  help="hang up this many seconds after the playback ends (negative: before it ends)")
    @click.option("--hangup-at", type=float, help="hang up this many seconds after the answer")
    @click.option("--gap", type=float, default=1.0, show_default=True, help="silence that ends an IVR prompt")
    @click.option("--timeout", type=float, default=60.0, show_default=True)
    def call_cmd(uri, play, dtmf, dtmf_method, record_heard, from_uri, play_at, play_when, hangup_after, hangup_at,
                 gap, timeout):
        """Call URI with the pjsua2 test caller and print what happened as JSON."""
        script = Script(dtmf=parse_dtmf(dtmf), play=play, play_at=play_at, play_when=play_when,
                        hangup_after=hangup_after,
                        hangup_at=hangup_at, gap=gap, method=dtmf_method, timeout=timeout)
        result = run_call(uri, script, record_heard=record_heard, from_uri=from_uri)
        click.echo(json.dumps(result, ensure_ascii=False))
        raise SystemExit(0 if result["connected"] else 1)
