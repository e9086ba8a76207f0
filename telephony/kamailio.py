"""Kamailio in front of several workers: the config and the credentials table are generated at each start.

- ``dispatcher`` spreads INVITEs over the workers (round robin), probes them with OPTIONS every few seconds, and
  tries the next worker when one answers 486 (its 4 calls are taken) or does not answer at all (it died). When
  every worker refused, the caller gets ``503`` with ``Retry-After`` and a ``HOTLINE-BUSY`` log line that the
  supervisor turns into a missed call (``CallService.missed(status="over_capacity")``).
- ``registrar`` + ``auth_db`` (a ``db_text`` table written here) for the staff's softphones: username = the staff
  member's ``sip_account``, password = :func:`staff_password` (derived from the secret key; ``hotline sip
  password``); the ``role`` column is loaded with the credentials, so the routing knows who is calling.
- Staff routing (docs/staff_calls.md): ``dispatch`` or the short number ``[sip] dispatch_number`` -> authenticated,
  sent to a worker as ``dispatch``; a dispatcher (manager, admin) dialling a staff account -> authenticated, sent
  to a worker as ``to-<account>``; a technician dialling a staff account -> 403. Only the workers' own INVITEs
  (``ds_is_from_list``) reach softphones: ``dispatchers`` forks to every registered dispatcher on duty (the
  ``duty`` htable, a ``db_text`` table the supervisor rewrites and reloads when the duty changes), an account
  to its registered contacts; nobody registered -> 480.
- Disabled staff: :func:`refresh_dbtext` rewrites the table when the staff records change (db_text reloads a
  table whose file changed) and the supervisor drops the removed accounts' registrations through ``ctl``
  (``kamcmd ul.rm``), so a disabled member can neither register again nor be rung (telephony/staff_calls.py).
- ``uac`` registers the hotline at an external SIP trunk when ``[sip] trunk_registrar`` is set.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

MODULES_DIR = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
MODULES = ["tm", "sl", "rr", "pv", "maxfwd", "textops", "siputils", "xlog", "sanity", "dispatcher", "usrloc",
           "registrar", "auth", "db_text", "auth_db", "uac", "kex", "corex", "ctl", "htable"]
STAFF_CALLERS = ("dispatcher", "manager", "admin")  # who may call a staff account (a technician calls dispatch)
RESERVED = ("dispatch", "dispatchers")


def staff_password(secret_key: str, org_id: int, sip_account: str) -> str:
    return hmac.new(secret_key.encode(), f"sip:{org_id}:{sip_account}".encode(), hashlib.sha256).hexdigest()[:16]


def check_dispatch_number(number: str) -> str:
    """The short number must be a plain SIP user part that is neither a routing word nor a ``to-`` target."""
    if number and (not re.fullmatch(r"[0-9A-Za-z_.+*-]{1,32}", number) or number in RESERVED
                   or number.startswith("to-")):
        raise ValueError(f"[sip] dispatch_number {number!r}: digits or letters (e.g. 100), not "
                         f"{'/'.join(RESERVED)} or to-...")
    return number


def write_dbtext(directory: Path, accounts: list[dict], on_duty: list[tuple[str, int]] | None = None) -> None:
    """``accounts``: [{"username", "password", "role"}]; ``on_duty``: (account, org_id) of the dispatchers that
    ``dispatchers-<org_id>`` rings. db_text files: a header of typed columns, then rows."""
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(directory / "version", "table_name(string) table_version(int)\nsubscriber:7\nuacreg:5\nduty:2\n")
    _write_subscriber(directory, accounts)
    write_duty(directory, on_duty or [])


def _write_subscriber(directory: Path, accounts: list[dict]) -> None:
    rows = [f"{i}:{_esc(a['username'])}:*:{_esc(a['password'])}:::{_esc(a.get('role') or '')}"
            for i, a in enumerate(accounts, 1)]
    _write_atomic(directory / "subscriber",
        "id(int,auto) username(string) domain(string) password(string) ha1(string,null) ha1b(string,null) "
        "role(string,null)\n" + "".join(row + "\n" for row in rows))


def write_duty(directory: Path, on_duty: list[tuple[str, int]]) -> None:
    """The htable ``duty``: one key per account on duty, its value the organisation's id (a string), so that a
    worker's ``dispatchers-<org_id>`` rings that organisation's dispatchers only (tenants never mix)."""
    _write_atomic(directory / "duty", "id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) "
                  "expires(int)\n" + "".join(f"{i}:{_esc(a)}:0:0:{int(org)}:0\n"
                                             for i, (a, org) in enumerate(sorted(on_duty), 1)))


def refresh_duty(directory: Path, on_duty: list[tuple[str, int]]) -> bool:
    """Rewrite the ``duty`` table if the list changed; True: Kamailio must reload it (``htable.reload duty``)."""
    if read_duty(directory, orgs=True) == sorted((a, int(org)) for a, org in on_duty):
        return False
    write_duty(directory, on_duty)
    return True


def read_duty(directory: Path, orgs: bool = False) -> list:
    """The accounts on duty (with ``orgs``: (account, org_id) pairs)."""
    rows = [f for f in _rows(directory / "duty") if len(f) >= 5]
    if orgs:
        return sorted((f[1], int(f[4]) if f[4].isdigit() else 0) for f in rows)
    return sorted(f[1] for f in rows)


def refresh_dbtext(directory: Path, accounts: list[dict]) -> list[str]:
    """Rewrite the credentials table if ``accounts`` changed; return the usernames that were removed (or whose
    password changed), whose registrations must be dropped."""
    old = read_dbtext(directory, roles=True)
    new = {a["username"]: (a["password"], a.get("role") or "") for a in accounts}
    if old == new:
        return []
    _write_subscriber(directory, accounts)
    return sorted(u for u, (pw, _) in old.items() if u not in new or new[u][0] != pw)


def read_dbtext(directory: Path, roles: bool = False) -> dict:
    """{username: password} (with ``roles``: {username: (password, role)})."""
    out = {}
    for fields in _rows(directory / "subscriber"):
        if len(fields) >= 4:
            role = fields[6] if len(fields) > 6 else ""
            out[fields[1]] = (fields[3], role) if roles else fields[3]
    return out


def _rows(path: Path) -> list[list[str]]:
    try:
        lines = path.read_text().splitlines()[1:]
    except FileNotFoundError:
        return []
    return [[f.replace("\x00", ":").replace("\\\\", "\\") for f in line.replace("\\:", "\x00").split(":")]
            for line in lines]


def ctl_socket(dbtext_dir: Path) -> Path:
    return dbtext_dir.parent / "kamailio.ctl"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # db_text must never read a half-written table


def _esc(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace(":", "\\:")


def render(*, listen_host: str, listen_port: int, workers: list[tuple[str, int]], dbtext_dir: Path,
           dispatcher_list: Path, retry_after: int, trunk: dict | None = None, dispatch_number: str = "") -> str:
    dispatcher_list.write_text("".join(f"1 sip:{h}:{p}\n" for h, p in workers))
    loads = "\n".join(f'loadmodule "{m}.so"' for m in MODULES)
    short = f' || $rU == "{check_dispatch_number(dispatch_number)}"' if dispatch_number else ""
    callers = "|".join(STAFF_CALLERS)
    trunk_cfg = ""
    if trunk and trunk.get("registrar"):
        trunk_cfg = (f'modparam("uac", "reg_db_url", "text://{dbtext_dir}")\n'
                     f'modparam("uac", "reg_contact_addr", "{listen_host}:{listen_port}")\n'
                     # the timer checks one row (cheap); the first REGISTER goes out within 5 s of the start
                     'modparam("uac", "reg_timer_interval", 5)\n'
                     'modparam("uac", "reg_retry_interval", 30)\n')
        _write_uacreg(dbtext_dir, trunk)
    return f"""#!KAMAILIO
# Generated by `hotline sip` at every start: edits are lost. See telephony/kamailio.py.
debug=2
log_stderror=yes
log_prefix="HOTLINE-KAM "
children=2
auto_aliases=no
listen=udp:{listen_host}:{listen_port}
alias="{listen_host}:{listen_port}"
mpath="{MODULES_DIR}"
{loads}
modparam("tm", "fr_timer", 2000)
modparam("tm", "fr_inv_timer", 60000)
modparam("dispatcher", "list_file", "{dispatcher_list}")
modparam("dispatcher", "ds_ping_interval", 2)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_from", "sip:probe@{listen_host}")
modparam("dispatcher", "flags", 2)
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("db_text", "db_mode", 1)  # re-read a table whose file changed: disabled staff are refused at once
modparam("ctl", "binrpc", "unix:{ctl_socket(dbtext_dir)}")
modparam("auth_db", "db_url", "text://{dbtext_dir}")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "$avp(role)=role")
modparam("auth_db", "use_domain", 0)
modparam("htable", "db_url", "text://{dbtext_dir}")
modparam("htable", "htable", "duty=>size=6;dbtable=duty;")
{trunk_cfg}
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("17895", "7")) {{ xlog("L_WARN", "malformed request from $si dropped\\n"); exit; }}
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{ sl_send_reply("200", "OK"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) t_relay(); exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) t_relay(); exit; }}
    if (t_check_trans()) exit;
    if (is_method("REGISTER")) {{
        if (!www_authorize("$fd", "subscriber")) {{ www_challenge("$fd", "0"); exit; }}
        consume_credentials();
        if (!save("location")) sl_reply_error();
        exit;
    }}
    if (!is_method("INVITE")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    if (ds_is_from_list("1")) {{ route(FROM_WORKER); exit; }}
    if ($rU == "dispatch"{short}) {{
        route(STAFF);
        $var(to) = "dispatch";  # the worker sees one number, whatever was dialled
        route(DIALLED);
    }} else if ($rU =~ "^dispatchers(-[0-9]+)?$" || $(rU{{s.substr,0,3}}) == "to-") {{
        sl_send_reply("403", "Not a number to dial"); exit;
    }} else if ($rU != $null && is_subscriber("$ru", "subscriber", "2")) {{
        route(STAFF);  # a staff account: only a dispatcher (manager, admin) calls one, through a worker
        if (!($avp(role) =~ "^({callers})$")) {{ sl_send_reply("403", "Call dispatch"); exit; }}
        $var(to) = "to-" + $rU;
        route(DIALLED);
    }}
    if (!ds_select_dst("1", "4")) {{ route(BUSY); exit; }}
    record_route();  # in-dialog requests come back through here (SIPp and some trunks ignore the Contact)
    t_on_failure("NEXT_WORKER");
    if (!t_relay()) sl_reply_error();
    exit;
}}

# A staff member dialling "dispatch" (or the short number) or a staff account: digest auth with his softphone's
# credentials (his role comes with them), the From user must be the authenticated account (the worker identifies
# him by it).
route[STAFF] {{
    if (!proxy_authorize("$fd", "subscriber")) {{ proxy_challenge("$fd", "0"); exit; }}
    if ($au != $fU) {{ sl_send_reply("403", "From is not the authenticated account"); exit; }}
    consume_credentials();
}}

# The R-URI user and the To user both become $var(to) (pjsua2 tells the worker the To URI; uac restores the
# caller's own To in the replies and the in-dialog requests, through the Record-Route set below).
route[DIALLED] {{
    $rU = $var(to);
    uac_replace_to("sip:$var(to)@$td");
}}

# A worker's own INVITE (a transfer leg): the dispatchers on duty, or one staff account, wherever registered.
route[FROM_WORKER] {{
    if ($rU =~ "^dispatchers(-[0-9]+)?$") {{ route(DISPATCHERS); exit; }}
    if ($rU != $null && lookup("location")) {{ t_relay(); exit; }}
    sl_send_reply("480", "Not registered");
}}

# Every registered contact of every dispatcher in the duty table (rewritten by the supervisor), rung in parallel;
# tm bridges the first 200 and CANCELs the other branches.
# "dispatchers-<org_id>": that organisation's only (the duty value); plain "dispatchers" (a worker that could not
# tell the caller's organisation, e.g. the database is down) rings every dispatcher on duty rather than nobody.
route[DISPATCHERS] {{
    $var(found) = 0;
    $var(org) = "*";
    if ($rU =~ "^dispatchers-[0-9]+$") {{ $var(org) = $(rU{{s.substr,12,0}}); }}
    sht_iterator_start("d", "duty");
    while (sht_iterator_next("d")) {{
        $var(aor) = "sip:" + $shtitkey(d) + "@{listen_host}";
        if (($var(org) == "*" || $var(org) == $shtitval(d)) && lookup("location", "$var(aor)")) {{
            if ($var(found) == 0) {{ $var(first) = $ru; }} else {{ append_branch(); }}
            $var(found) = $var(found) + 1;
        }}
    }}
    sht_iterator_end("d");
    if ($var(found) == 0) {{ sl_send_reply("480", "No dispatcher on duty online"); exit; }}
    xlog("L_INFO", "HOTLINE-RING|$ci|$var(found)\\n");
    $ru = $var(first);
    t_relay();
}}

route[BUSY] {{
    xlog("L_NOTICE", "HOTLINE-BUSY|$ci|$fu|$tU\\n");
    append_to_reply("Retry-After: {retry_after}\\r\\n");
    send_reply("503", "All lines busy");
}}

failure_route[NEXT_WORKER] {{
    if (t_is_canceled()) exit;
    if (t_branch_timeout() || t_check_status("408|5[0-9][0-9]")) ds_mark_dst("ip");
    if (t_check_status("486|480|408|5[0-9][0-9]") || t_branch_timeout()) {{
        if (ds_next_dst()) {{ t_on_failure("NEXT_WORKER"); t_relay(); exit; }}
        xlog("L_NOTICE", "HOTLINE-BUSY|$ci|$fu|$tU\\n");
        append_to_reply("Retry-After: {retry_after}\\r\\n");
        t_reply("503", "All lines busy");
    }}
}}
"""


def _write_uacreg(directory: Path, trunk: dict) -> None:
    """One registration; its l_uuid is the username, which uac also puts in the Contact (the provider sends calls
    to sip:<username>@<public address>). The realm is left empty unless configured: uac then answers the realm
    the provider's challenge names; a non-empty realm must match it exactly ("*" is no wildcard in uac)."""
    cols = ("id(int,auto) l_uuid(string) l_username(string) l_domain(string) r_username(string) r_domain(string) "
            "realm(string,null) auth_username(string) auth_password(string) auth_ha1(string,null) auth_proxy(string) "
            "expires(int) flags(int) reg_delay(int) contact_addr(string,null) socket(string,null)")
    domain = trunk.get("domain") or trunk["registrar"].split(":", 1)[-1].split(";", 1)[0]
    user = trunk.get("username") or "hotline"
    row = (f"1:{_esc(user)}:{_esc(user)}:{_esc(domain)}:{_esc(user)}:{_esc(domain)}:{_esc(trunk.get('realm') or '')}:"
           f"{_esc(user)}:{_esc(trunk.get('password') or '')}::{_esc(trunk['registrar'])}:600:0:0::")
    (directory / "uacreg").write_text(cols + "\n" + row + "\n")
