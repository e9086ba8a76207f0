"""TwiML from the interpreter's actions: the same flow a SIP worker plays, rendered for Twilio Voice (issue 8 §2).

Pure: no I/O, no clock. The webhook (:mod:`telephony.twilio_voice`) carries out ``Invoke`` actions itself (through
``CallService.invoke``) and feeds their results back into ``step()`` before it renders, so a batch given here holds
only ``Play``, ``Gather``, ``Record``, ``Transfer`` and ``Hangup``; an ``Invoke`` is a programming error.

Mapping (decided here, documented in docs/twilio_voice.md):
- ``Play``: one ``<Play>`` per prompt whose recording exists (``audio_url(id)``), ``<Say language="ru-RU">`` with the
  catalogue's text only where no recording exists (consecutive texts are joined into one ``<Say>``).
- ``Gather``: ``<Gather input="dtmf" actionOnEmptyResult="true">``; the barge-in plays right before it are nested in
  it (Twilio then counts keys pressed during them, as the SIP worker does). Twilio has one timeout for the first and
  the following digits: the larger of the two, rounded up. No key: Twilio posts no ``Digits`` -> ``Timeout()``.
- ``Record``: ``<Record>`` with ``recordingStatusCallback`` (the audio is fetched when Twilio has stored it), then a
  ``<Redirect>`` to the same action with ``empty=1``: Twilio skips the action when nothing was said.
- ``Transfer``: ``<Dial>`` to a ``<Sip>`` URI or a ``<Number>`` (``"dispatchers"`` is resolved by the webhook; with
  no target it answers ``TransferResult(False)`` itself and never renders a Dial).
- ``Hangup``: ``<Hangup/>``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

from .actions import Gather, Hangup, Invoke, Play, Record, Transfer


@dataclass(frozen=True)
class Urls:
    """Where Twilio posts back (paths or absolute URLs) and how a prompt's audio is addressed."""

    gather: str = "/twilio/voice/gather"
    record: str = "/twilio/voice/record"
    recording_status: str = "/twilio/voice/recording"
    dial: str = "/twilio/voice/dial"
    audio_base: str = "/twilio/voice/prompts"  # + "/<prompt id>.wav"


@dataclass(frozen=True)
class Prompts:
    """What the renderer needs of the catalogue: whether a prompt has a recording, and its Russian text."""

    has_audio: Callable[[str], bool]
    text: Callable[[str], str]


def render(actions: Iterable, prompts: Prompts, urls: Urls = Urls(), *, language: str = "ru-RU") -> str:
    """One TwiML document for one batch of actions."""
    root = ET.Element("Response")
    pending: list[Play] = []  # barge-in plays that may belong in the next Gather
    for action in actions:
        if isinstance(action, Play):
            if action.barge_in:
                pending.append(action)
                continue
            _flush(root, pending, prompts, urls, language)
            _play(root, action.prompts, prompts, urls, language)
        elif isinstance(action, Gather):
            gather = ET.SubElement(root, "Gather", _gather_attrs(action, urls))
            _flush(gather, pending, prompts, urls, language)
        elif isinstance(action, Record):
            _flush(root, pending, prompts, urls, language)
            ET.SubElement(root, "Record", _record_attrs(action, urls))
            ET.SubElement(root, "Redirect", {"method": "POST"}).text = _with_query(
                urls.record, {"name": action.name, "empty": "1"})
        elif isinstance(action, Transfer):
            _flush(root, pending, prompts, urls, language)
            dial = ET.SubElement(root, "Dial", {"action": urls.dial, "method": "POST",
                                                "timeout": str(_seconds(action.timeout_s)),
                                                "answerOnBridge": "true"})
            kind = "Sip" if action.target.lower().startswith(("sip:", "sips:")) else "Number"
            ET.SubElement(dial, kind).text = action.target
        elif isinstance(action, Hangup):
            _flush(root, pending, prompts, urls, language)
            ET.SubElement(root, "Hangup")
        elif isinstance(action, Invoke):
            raise ValueError(f"Invoke {action.op!r} must be carried out by the webhook before rendering")
        else:
            raise ValueError(f"cannot render {action!r} as TwiML")
    _flush(root, pending, prompts, urls, language)
    _join_says(root)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _flush(parent: ET.Element, pending: list[Play], prompts: Prompts, urls: Urls, language: str) -> None:
    for play in pending:
        _play(parent, play.prompts, prompts, urls, language)
    pending.clear()


def _play(parent: ET.Element, ids: Iterable[str], prompts: Prompts, urls: Urls, language: str) -> None:
    say: list[str] = []
    for pid in ids:
        if prompts.has_audio(pid):
            _say(parent, say, language)
            ET.SubElement(parent, "Play").text = f"{urls.audio_base}/{pid}.wav"
        else:
            text = prompts.text(pid)
            if text:
                say.append(text)
    _say(parent, say, language)


def _say(parent: ET.Element, texts: list[str], language: str) -> None:
    if texts:
        ET.SubElement(parent, "Say", {"language": language}).text = " ".join(texts)
        texts.clear()


def _join_says(parent: ET.Element) -> None:
    """Texts said one after another become one <Say> (one request to Twilio's synthesiser, no gap between them)."""
    previous = None
    for child in list(parent):
        _join_says(child)
        if child.tag == "Say" and previous is not None and previous.tag == "Say" and \
                previous.get("language") == child.get("language"):
            previous.text = f"{previous.text} {child.text}"
            parent.remove(child)
            continue
        previous = child


def _gather_attrs(g: Gather, urls: Urls) -> dict:
    return {"input": "dtmf", "action": urls.gather, "method": "POST", "actionOnEmptyResult": "true",
            "numDigits": str(max(1, int(g.max_digits))),
            "timeout": str(_seconds(max(g.timeout_s, g.inter_digit_s if g.max_digits > 1 else 0))),
            "finishOnKey": g.terminator or ""}


def _record_attrs(r: Record, urls: Urls) -> dict:
    return {"action": _with_query(urls.record, {"name": r.name}), "method": "POST",
            "maxLength": str(_seconds(r.max_s)), "timeout": str(_seconds(r.silence_s)),
            "finishOnKey": r.terminator or "", "playBeep": "true" if r.beep else "false", "trim": "do-not-trim",
            "recordingStatusCallback": _with_query(urls.recording_status, {"name": r.name}),
            "recordingStatusCallbackMethod": "POST", "recordingStatusCallbackEvent": "completed"}


def _seconds(value: float) -> int:
    return max(1, int(math.ceil(float(value))))


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


__all__ = ["Prompts", "Urls", "render"]
