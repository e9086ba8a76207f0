"""Attachments through HTTP: real WAV, PNG and PDF files up and down with their checksums; oversized, mistyped and
damaged uploads are refused and leave no row and no blob behind."""
from __future__ import annotations

import base64
import hashlib
import io
import struct
import wave
import zlib
from pathlib import Path

import pytest

from request_api_support import (assert_error, assign, clock, container, create, disp, petrov,  # noqa: F401
                                 row_counts, tech)


def make_wav(seconds: float = 0.25, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(int(seconds * rate))))
    return out.getvalue()


def make_png(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def make_pdf() -> bytes:
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")


FILES = {
    "recording": (make_wav(), "запись.wav", "audio/wav"),
    "photo": (make_png(), "photo.png", "image/png"),
    "document": (make_pdf(), "акт.pdf", "application/pdf"),
}


@pytest.fixture
def jobs(client, disp, technician, petrov):
    """Request 1 is Ivanov's, request 2 is Petrov's."""
    create(client, disp)
    create(client, disp)
    assign(client, disp, 1, technician.id)
    assign(client, disp, 2, petrov.id)


def upload(client, headers, number: int, content: bytes, filename: str, content_type: str, kind: str, **form):
    data = {"file": (io.BytesIO(content), filename, content_type), "kind": kind, **form}
    return client.post(f"/api/v1/requests/{number}/attachments", data=data, content_type="multipart/form-data",
                       headers=headers)


def blob_files(container) -> list[Path]:
    root = Path(container.settings.effective_blob_dir)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("kind", FILES)
def test_an_uploaded_file_downloads_byte_for_byte_with_its_checksum(client, disp, jobs, kind):
    content, filename, content_type = FILES[kind]
    sha = hashlib.sha256(content).hexdigest()
    r = upload(client, disp, 1, content, filename, content_type, kind)
    assert r.status_code == 201, r.get_json()
    att = r.get_json()
    assert (att["kind"], att["filename"], att["content_type"], att["size"], att["sha256"]) == \
        (kind, filename, content_type, len(content), sha)
    down = client.get(att["url"], headers=disp)
    assert down.status_code == 200
    assert down.data == content
    assert down.headers["ETag"] == f'"{sha}"'
    assert down.headers["X-Checksum-SHA256"] == sha
    assert down.headers["Digest"] == "sha-256=" + base64.b64encode(hashlib.sha256(down.data).digest()).decode()
    assert down.headers["Content-Type"].startswith(content_type)
    assert int(down.headers["Content-Length"]) == len(content)


def test_a_russian_filename_survives_the_download_header(client, disp, jobs):
    content, filename, content_type = FILES["document"]
    att = upload(client, disp, 1, content, filename, content_type, "document").get_json()
    disposition = client.get(att["url"], headers=disp).headers["Content-Disposition"]
    assert disposition == "attachment; filename*=UTF-8''%D0%B0%D0%BA%D1%82.pdf"


def test_a_download_with_the_current_etag_is_304(client, disp, jobs):
    att = upload(client, disp, 1, *FILES["photo"], "photo").get_json()
    r = client.get(att["url"], headers={**disp, "If-None-Match": f'"{att["sha256"]}"'})
    assert r.status_code == 304 and r.data == b""


def test_an_upload_is_listed_and_recorded_in_the_history(client, disp, jobs):
    att = upload(client, disp, 1, *FILES["recording"], "recording").get_json()
    listed = client.get("/api/v1/requests/1/attachments", headers=disp).get_json()
    assert listed == [att]
    entries = client.get("/api/v1/requests/1/history", headers=disp).get_json()
    assert [(h["kind"], h["field"], h["new_value"], h["note"]) for h in entries if h["kind"] == "attachment"] == \
        [("attachment", "recording", "запись.wav", f"sha256:{att['sha256']}")]


def test_the_same_file_on_two_requests_is_stored_once(client, disp, jobs, container):
    first = upload(client, disp, 1, *FILES["photo"], "photo").get_json()
    second = upload(client, disp, 2, *FILES["photo"], "photo").get_json()
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    assert len(blob_files(container)) == 1
    assert client.get(second["url"], headers=disp).data == FILES["photo"][0]


def test_an_upload_with_the_right_checksum_is_accepted(client, disp, jobs):
    content = FILES["recording"][0]
    r = upload(client, disp, 1, *FILES["recording"], "recording", sha256=hashlib.sha256(content).hexdigest().upper())
    assert r.status_code == 201, r.get_json()


def test_an_upload_with_a_wrong_checksum_is_refused_and_leaves_nothing(client, disp, jobs, container):
    before = row_counts(container.engine)
    r = upload(client, disp, 1, *FILES["recording"], "recording", sha256="0" * 64)
    error = assert_error(r, 422, field="sha256")
    assert hashlib.sha256(FILES["recording"][0]).hexdigest() in error["message"]
    assert row_counts(container.engine) == before
    assert blob_files(container) == []


def test_an_oversized_upload_is_413_and_leaves_no_row_and_no_blob(client, disp, jobs, container):
    assert container.settings.max_upload_bytes == 256 * 1024
    big = make_wav(seconds=20)  # 320 KB
    assert len(big) > 256 * 1024
    before = row_counts(container.engine)
    error = assert_error(upload(client, disp, 1, big, "long.wav", "audio/wav", "recording"), 413,
                         "upload_too_large")
    assert str(256 * 1024) in error["message"]
    assert row_counts(container.engine) == before
    assert blob_files(container) == []


def test_a_body_far_over_the_limit_is_413_in_the_error_shape(client, disp, jobs, container):
    huge = make_wav(seconds=100)  # 1.6 MB: over what the web server reads at all
    before = row_counts(container.engine)
    assert_error(upload(client, disp, 1, huge, "huge.wav", "audio/wav", "recording"), 413)
    assert row_counts(container.engine) == before
    assert blob_files(container) == []


@pytest.mark.parametrize("content,content_type,kind,code", [
    (make_png(), "audio/wav", "recording", "type_mismatch"),
    ("просто текст".encode(), "image/png", "photo", "type_mismatch"),
    (make_pdf(), "image/jpeg", "photo", "type_mismatch"),
    (make_wav(), "audio/wav", "photo", "unsupported_type"),
    (b"MZ\x90\x00 an executable", "application/x-msdownload", "document", "unsupported_type"),
])
def test_a_file_that_is_not_what_it_says_is_415(client, disp, jobs, container, content, content_type, kind, code):
    before = row_counts(container.engine)
    assert_error(upload(client, disp, 1, content, "file.bin", content_type, kind), 415, code)
    assert row_counts(container.engine) == before
    assert blob_files(container) == []


@pytest.mark.parametrize("kind", ["video", "", "Photo"])
def test_an_unknown_kind_is_422_listing_the_kinds(client, disp, jobs, container, kind):
    before = row_counts(container.engine)
    error = assert_error(upload(client, disp, 1, *FILES["photo"], kind), 422, "invalid_kind")
    assert "recording, photo, document" in error["message"]
    assert row_counts(container.engine) == before


@pytest.mark.parametrize("filename,field", [("a\u0000b.png", "file"), ("x" * 300 + ".png", "filename")])
def test_a_bad_filename_is_422_and_leaves_no_blob(client, disp, jobs, container, filename, field):
    before = row_counts(container.engine)
    assert_error(upload(client, disp, 1, FILES["photo"][0], filename, "image/png", "photo"), 422, field=field)
    assert row_counts(container.engine) == before
    assert blob_files(container) == []


def test_an_upload_without_a_file_is_422(client, disp, jobs):
    r = client.post("/api/v1/requests/1/attachments", data={"kind": "photo"}, content_type="multipart/form-data",
                    headers=disp)
    assert_error(r, 422, field="file")


def test_an_empty_file_is_422(client, disp, jobs, container):
    assert_error(upload(client, disp, 1, b"", "empty.png", "image/png", "photo"), 422)
    assert row_counts(container.engine)["attachments"] == 0


def test_a_technician_attaches_a_photo_to_his_own_request(client, tech, jobs):
    r = upload(client, tech, 1, *FILES["photo"], "photo")
    assert r.status_code == 201, r.get_json()
    assert client.get(r.get_json()["url"], headers=tech).data == FILES["photo"][0]


def test_a_technician_cannot_attach_to_another_technicians_request(client, tech, jobs, container):
    assert_error(upload(client, tech, 2, *FILES["photo"], "photo"), 404, "not_found")
    assert row_counts(container.engine)["attachments"] == 0


def test_a_technician_cannot_download_an_attachment_of_a_request_not_his(client, disp, tech, jobs):
    att = upload(client, disp, 2, *FILES["document"], "document").get_json()
    assert_error(client.get(att["url"], headers=tech), 404, "not_found")
    assert_error(client.get("/api/v1/requests/2/attachments", headers=tech), 404, "not_found")


def test_another_organisation_cannot_download_our_attachment(client, disp, jobs, other_org, make_token):
    att = upload(client, disp, 1, *FILES["photo"], "photo").get_json()
    assert_error(client.get(att["url"], headers=make_token("other", "manager")), 404, "not_found")


def test_an_unknown_attachment_is_404(client, disp, jobs):
    assert_error(client.get("/api/v1/attachments/12345", headers=disp), 404, "not_found")
