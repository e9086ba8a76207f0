"""A scripted Twilio Voice call: the Flask test client posts what Twilio posts, signed with the account's auth token
by the twilio library's RequestValidator, and follows the TwiML it gets back (Gather -> Digits, Record -> a recording
on the local Recordings API and its status callback, Dial -> DialCallStatus, Hangup -> the status callback)."""
from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urljoin
from xml.etree import ElementTree as ET

from twilio.request_validator import RequestValidator

BASE = "http://localhost"


class TwilioCall:
    def __init__(self, client, account_sid: str, auth_token: str, *, caller: str, did: str, recordings=None):
        self.client = client
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sid = "CA" + secrets.token_hex(16)
        self.caller, self.did = caller, did
        self.recordings = recordings
        self.twiml: ET.Element | None = None
        self.documents: list[str] = []

    def params(self, **extra) -> dict:
        return {"CallSid": self.sid, "AccountSid": self.account_sid, "From": self.caller, "To": self.did,
                "Direction": "inbound", "ApiVersion": "2010-04-01", **extra}

    def post(self, url: str, params: dict, *, token: str | None = None, signature: str | None = None):
        full = urljoin(BASE + "/", url)
        if signature is None:
            signature = RequestValidator(token or self.auth_token).compute_signature(full, params)
        path = full[len(BASE):]
        return self.client.post(path, data=params, headers={"X-Twilio-Signature": signature})

    def _follow(self, resp):
        assert resp.status_code == 200, resp.status_code
        assert resp.mimetype == "text/xml"
        text = resp.get_data(as_text=True)
        self.documents.append(text)
        self.twiml = ET.fromstring(text)
        return self.twiml

    # -- what a caller does --------------------------------------------------------------------------------------
    def start(self):
        return self._follow(self.post("/twilio/voice/incoming", self.params(CallStatus="ringing")))

    def waiting(self) -> str:
        """The verb Twilio stops at: Gather, Record, Dial or Hangup."""
        for child in self.twiml:
            if child.tag in ("Gather", "Record", "Dial", "Hangup", "Reject"):
                return child.tag
        raise AssertionError("the TwiML does not wait for anything: " + ET.tostring(self.twiml, "unicode"))

    def verb(self, tag: str) -> ET.Element:
        found = self.twiml.find(tag)
        assert found is not None, f"no <{tag}> in {ET.tostring(self.twiml, 'unicode')}"
        return found

    def press(self, digits: str):
        gather = self.verb("Gather")
        params = self.params(CallStatus="in-progress", **({"Digits": digits} if digits else {}))
        return self._follow(self.post(gather.get("action"), params))

    def speak(self, wav: Path, *, duration: int = 3, digits: str = "#", hang_up: bool = False):
        """Record: the audio goes to the Recordings API, then the Record action and its status callback."""
        rec = self.verb("Record")
        rsid = "RE" + secrets.token_hex(16)
        self.recordings.recordings[rsid] = Path(wav).read_bytes()
        url = f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Recordings/{rsid}"
        params = self.params(CallStatus="completed" if hang_up else "in-progress", RecordingUrl=url,
                             RecordingSid=rsid, RecordingDuration=str(duration),
                             Digits="hangup" if hang_up else digits)
        doc = self._follow(self.post(rec.get("action"), params))
        status = self.post(rec.get("recordingStatusCallback"),
                           {"AccountSid": self.account_sid, "CallSid": self.sid, "RecordingSid": rsid,
                            "RecordingUrl": url, "RecordingStatus": "completed", "RecordingDuration": str(duration),
                            "RecordingChannels": "1", "RecordingSource": "RecordVerb"})
        assert status.status_code == 204, status.status_code
        return doc

    def dial_result(self, status: str):
        return self._follow(self.post(self.verb("Dial").get("action"),
                                      self.params(CallStatus="in-progress", DialCallStatus=status)))

    def hang_up(self):
        resp = self.post("/twilio/voice/status", self.params(CallStatus="completed", CallDuration="42"))
        assert resp.status_code == 204, resp.status_code
