"""The `[sip]` settings of the telephony workers (``HOTLINE_SIP_*`` environment variables win over the file)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SipSettings:
    # Worker processes. 1: the worker listens on the public port itself (core setting ``sip_port``), unless a trunk
    # is configured. More than 1, or a trunk: Kamailio listens on the public port and spreads calls over the workers
    # (and registers at the trunk).
    workers: int = 1
    host: str = "127.0.0.1"  # the address the public port and the workers bind to
    max_calls: int = 4  # per worker; the pjsua2 wheel cannot hold more
    worker_port_base: int = 0  # workers' private SIP ports (base + i); 0: free ports picked at start
    rtp_port_base: int = 0  # RTP ports (base + 100 * i ...); 0: free ranges picked at start
    did: str = ""  # the dialled number assumed when the To header carries none
    # Where the flow's "dispatchers" transfer goes. Empty: the dispatchers group at Kamailio (N > 1), or no one.
    dispatcher_uri: str = ""
    # The short number a staff softphone may dial instead of "dispatch" (N > 1, Kamailio): routed exactly like
    # "dispatch". "100": three digits that a push-button softphone keys quickly and no Russian public short number
    # (01-04, 101-104, 112) or resident's phone number collides with. Empty: only "dispatch".
    dispatch_number: str = "100"
    # The spool only: a spooled recording is deleted an hour after the journal stored it (sooner if this is less than
    # an hour), one never stored is kept for the replay. Stored recordings: [recordings] retention_days.
    retention_days: int = 365
    live_queue: str = ""  # Redis list suffix for live audio announcements; empty: the core queue name
    kamailio_bin: str = "/usr/sbin/kamailio"
    trunk_registrar: str = ""  # e.g. "sip:sip.provider.ru" (where REGISTER goes); empty: no trunk registration
    trunk_username: str = ""
    trunk_password: str = ""
    trunk_domain: str = ""  # the domain of the registered AOR; empty: the registrar's host
    # The realm the provider's 401 must name; empty: whatever realm it names (Kamailio's uac module compares a
    # non-empty realm exactly: "*" is not a wildcard there).
    trunk_realm: str = ""
    busy_retry_after: int = 30  # seconds in Retry-After when every worker is busy
    drain_seconds: float = 120.0  # SIGTERM: how long calls in progress may go on before they are hung up
    log_level: int = 1  # pjsip's own log level (0-6) on stderr
    # A call (or a bridged transfer leg) from which no RTP has arrived for this long is taken for lost (a softphone
    # killed, a basement without signal: no BYE ever comes, and pjsua has no media timeout of its own): that leg is
    # hung up, and so is the other party of a bridge, hangup cause "media_timeout", recordings kept. 30 s: softphones
    # send G.711 RTP continuously (or at least a keep-alive every 5 s with silence suppression), while a short loss of
    # signal must not cut a conversation. Counted only once some RTP has come (a caller that never sends any, such as
    # a scripted SIPp call between its bursts, is not "lost") and not while the far end holds the call. 0: off.
    media_timeout_s: float = 30.0

    @property
    def kamailio_in_front(self) -> bool:
        """Kamailio takes the public port: several workers to spread calls over, or a trunk to register at."""
        return self.workers > 1 or bool(self.trunk_registrar)
