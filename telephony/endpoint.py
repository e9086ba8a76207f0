"""pjsua2 plumbing for one worker process: the Endpoint, its transport, the account, and Call objects whose
callbacks only record what happened (the worker's loop decides what to do about it).

Threading follows the wheel's constraints: ``threadCnt=0`` and ``mainThreadOnly`` (every callback runs inside
``libHandleEvents`` on the loop's thread), ``setNullDev()`` (no sound card; the null device's clock drives the
conference bridge), PCMU forced by codec priority, a bridge clock of 8 kHz so every recorder writes 8 kHz mono
16-bit PCM WAV.
"""
from __future__ import annotations

import collections

import pjsua2 as pj

PCMU = "PCMU/8000"
CODECS_KEPT = (PCMU, "telephone-event/8000")


class Events:
    """What the callbacks saw, in order; drained by the loop after every ``libHandleEvents``."""

    def __init__(self):
        self.items: collections.deque = collections.deque()

    def put(self, *item) -> None:
        self.items.append(item)

    def drain(self):
        while self.items:
            yield self.items.popleft()


class Endpoint(pj.Endpoint):
    def __init__(self, events: Events):
        super().__init__()
        self.events = events

    def onRejectedIncomingCall(self, prm):  # the wheel's call limit, or a 488 from SDP negotiation
        sip_call_id = ""
        for line in (prm.rdata.wholeMsg or "").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() in ("call-id", "i"):
                sip_call_id = value.strip()
                break
        self.events.put("rejected", sip_call_id, prm.remoteInfo, prm.localInfo, prm.statusCode, prm.reason)


class Account(pj.Account):
    """pjsua2 wants the Call object made inside onIncomingCall (or it answers 500): made here, held in
    ``incoming`` until the loop takes it."""

    def __init__(self, events: Events):
        super().__init__()
        self.events = events
        self.incoming: dict = {}

    def onIncomingCall(self, prm):
        import uuid

        key = uuid.uuid4().hex
        self.incoming[key] = Call(self, self.events, prm.callId, key)
        self.incoming[key].request_user = request_user(prm.rdata.wholeMsg)  # Kamailio may have rewritten it
        self.events.put("incoming", key)


def request_user(message: str | None) -> str | None:
    """The user part of a SIP request's Request-URI (``INVITE sip:dispatch@host SIP/2.0`` -> ``dispatch``)."""
    line = (message or "").split("\n", 1)[0].split()
    if len(line) < 2 or "@" not in line[1]:
        return None
    return line[1].split(":", 1)[-1].split("@", 1)[0].split(";", 1)[0] or None


class Call(pj.Call):
    """A call's callbacks record events; ``key`` names the call in the worker's table."""

    def __init__(self, account, events: Events, call_id: int = pj.PJSUA_INVALID_ID, key: str = ""):
        super().__init__(account, call_id)
        self.events = events
        self.key = key

    def onCallState(self, prm):
        info = self.getInfo()
        self.events.put("state", self.key, info.state, info.lastStatusCode, info.lastReason)

    def onCallMediaState(self, prm):
        self.events.put("media", self.key)

    def onDtmfDigit(self, prm):  # RFC 2833 events and SIP INFO (application/dtmf-relay) both end here
        self.events.put("dtmf", self.key, prm.digit, int(prm.method))


def create_endpoint(events: Events, *, host: str, port: int, rtp_port: int, rtp_range: int, max_calls: int,
                    log_level: int = 1, user_agent: str = "hotline") -> tuple[Endpoint, Account]:
    ep = Endpoint(events)
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = max_calls
    cfg.uaConfig.userAgent = user_agent
    cfg.logConfig.level = log_level
    cfg.logConfig.consoleLevel = log_level
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.channelCount = 1
    cfg.medConfig.ecTailLen = 0  # no echo canceller: no sound device, and it costs CPU per call
    cfg.medConfig.noVad = True  # keep RTP flowing in silence: recordings keep their real-time length
    cfg.medConfig.threadCnt = 1
    # A deep, steady jitter buffer: a recording is not a conversation, 200 ms more delay costs nothing, and a
    # buffer that shrinks and grows drops or invents frames (the recording would no longer match what was said).
    cfg.medConfig.jbInit = 200
    cfg.medConfig.jbMinPre = 160
    cfg.medConfig.jbMaxPre = 600
    cfg.medConfig.jbMax = 1500
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = port
    tcfg.boundAddress = host
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, 255 if codec.codecId.startswith(CODECS_KEPT) else 0)
    acc_cfg = pj.AccountConfig()
    acc_cfg.idUri = f"sip:hotline@{host}:{port}"
    acc_cfg.mediaConfig.transportConfig.port = rtp_port
    acc_cfg.mediaConfig.transportConfig.portRange = rtp_range
    acc_cfg.mediaConfig.transportConfig.boundAddress = host
    acc = Account(events)
    acc.create(acc_cfg, True)
    return ep, acc


def call_audio(call: pj.Call):
    """The call's active audio media, or None before media is up."""
    info = call.getInfo()
    for i, media in enumerate(info.media):
        if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in (pj.PJSUA_CALL_MEDIA_ACTIVE,
                                                                    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
            return call.getAudioMedia(i)
    return None


def headers(**values) -> pj.SipHeaderVector:
    vector = pj.SipHeaderVector()
    for name, value in values.items():
        header = pj.SipHeader()
        header.hName = name.replace("_", "-")
        header.hValue = str(value)
        vector.append(header)
    return vector


def call_param(status: int = 0, reason: str = "", **hdrs) -> pj.CallOpParam:
    prm = pj.CallOpParam(True)
    if status:
        prm.statusCode = status
    if reason:
        prm.reason = reason
    if hdrs:
        prm.txOption.headers = headers(**hdrs)
    return prm


def make_player(paths: list[str], *, loop: bool = False) -> pj.AudioMediaPlayer:
    player = pj.AudioMediaPlayer()
    options = 0 if loop else pj.PJMEDIA_FILE_NO_LOOP
    if len(paths) == 1:
        player.createPlayer(paths[0], options)
    else:
        vector = pj.StringVector()
        for path in paths:
            vector.append(path)
        player.createPlaylist(vector, "", options)
    return player


def make_recorder(path: str) -> pj.AudioMediaRecorder:
    recorder = pj.AudioMediaRecorder()
    recorder.createRecorder(path)
    return recorder
