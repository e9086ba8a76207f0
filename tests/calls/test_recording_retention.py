"""Retention of stored recordings: recordings.retention.purge_expired and `hotline recordings purge`."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from click.testing import CliRunner

from journal_api.storage import tables as t
from journal_api.storage import tables_calls as tc
from recordings.retention import purge_expired

from calls_support import open_call, write_wav


def _age(c, rec_id, days):
    with c.engine.begin() as conn:
        now = conn.scalar(sa.select(tc.recordings.c.created_at).where(tc.recordings.c.id == rec_id))
        conn.execute(sa.update(tc.recordings).where(tc.recordings.c.id == rec_id)
                     .values(created_at=now - timedelta(days=days)))


def _rows(c):
    with c.engine.connect() as conn:
        return {r.id: r for r in conn.execute(sa.select(tc.recordings))}


def _answered_call_with_recordings(place, tmp_path, uuid="u-1"):
    c, org = place["c"], place["org"]
    call_id = open_call(c, org.id, uuid=uuid)
    c.calls.register_from_call(call_id, work_type="water", apartment=45, building_id=place["b1"].id)
    old = c.calls.attach_recording(call_id=call_id, kind="call", path=write_wav(tmp_path / f"{uuid}c.wav", 2.0))
    new = c.calls.attach_recording(call_id=call_id, kind="description",
                                   path=write_wav(tmp_path / f"{uuid}d.wav", 1.0, value=5))
    return call_id, old, new


def test_by_default_recordings_are_kept_forever(place, tmp_path, monkeypatch):
    monkeypatch.delenv("HOTLINE_RECORDINGS_RETENTION_DAYS", raising=False)
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    c = place["c"]
    _, old, _ = _answered_call_with_recordings(place, tmp_path)
    _age(c, old, 3650)
    assert purge_expired(c) == 0
    row = _rows(c)[old]
    assert row.purged_at is None and c.blobs.exists(row.blob_key)


def test_expired_audio_is_deleted_once_and_the_call_request_and_rows_stay(place, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_RECORDINGS_RETENTION_DAYS", "30")
    c, org = place["c"], place["org"]
    call_id, old, new = _answered_call_with_recordings(place, tmp_path)
    _age(c, old, 31)
    _age(c, new, 29)
    before = c.calls.get_call(org.id, call_id)
    assert purge_expired(c) == 1
    rows = _rows(c)
    assert rows[old].purged_at is not None and not c.blobs.exists(rows[old].blob_key)
    assert rows[new].purged_at is None and c.blobs.exists(rows[new].blob_key)
    after = c.calls.get_call(org.id, call_id)
    assert {k: v for k, v in after.items() if k != "recordings"} == \
        {k: v for k, v in before.items() if k != "recordings"}
    assert [r["note"] for r in after["recordings"]] == ["запись удалена по сроку хранения", None]
    assert after["recordings"][0]["sha256"] == before["recordings"][0]["sha256"]
    assert purge_expired(c) == 0  # idempotent: nothing more to do, the mark stays as it was
    assert _rows(c)[old].purged_at == rows[old].purged_at
    with c.engine.connect() as conn:
        audits = conn.execute(sa.select(t.audit_log.c.changes).where(
            t.audit_log.c.entity == "recording", t.audit_log.c.action == "purged")).scalars().all()
    assert [a["recording_ids"] for a in audits] == [[old]]


def test_audio_still_used_by_a_kept_recording_is_not_deleted(place, tmp_path):
    c = place["c"]
    _, old, _ = _answered_call_with_recordings(place, tmp_path, "a")
    twin = c.calls.attach_recording(call_id=open_call(c, place["org"].id, uuid="b"), kind="call",
                                    path=write_wav(tmp_path / "same.wav", 2.0))  # the same bytes as "old"
    rows = _rows(c)
    assert rows[twin].blob_key == rows[old].blob_key
    _age(c, old, 400)
    assert purge_expired(c, retention_days=365) == 1
    assert _rows(c)[old].purged_at is not None and c.blobs.exists(rows[old].blob_key)
    _age(c, twin, 400)
    assert purge_expired(c, retention_days=365) == 1
    assert not c.blobs.exists(rows[old].blob_key)


def test_the_purge_command_uses_the_setting_and_says_what_it_did(container, org, building, tmp_path, settings):
    from journal_api.cli import _plug, cli

    _plug()
    place = {"c": container, "org": org, "b1": building}
    _, old, new = _answered_call_with_recordings(place, tmp_path)
    _age(container, old, 10)
    env = {"HOTLINE_DATABASE_URL": settings.database_url, "HOTLINE_DATA_DIR": settings.data_dir,
           "HOTLINE_CONFIG": None, "HOTLINE_RECORDINGS_RETENTION_DAYS": None}
    kept = CliRunner().invoke(cli, ["recordings", "purge"], env=env, catch_exceptions=False)
    assert kept.exit_code == 0 and "kept forever" in kept.output
    assert _rows(container)[old].purged_at is None
    env["HOTLINE_RECORDINGS_RETENTION_DAYS"] = "7"
    done = CliRunner().invoke(cli, ["recordings", "purge"], env=env, catch_exceptions=False)
    assert done.exit_code == 0 and done.output.startswith("1 recording(s) older than 7 days purged")
    rows = _rows(container)
    assert rows[old].purged_at is not None and rows[new].purged_at is None
    assert not container.blobs.exists(rows[old].blob_key)
