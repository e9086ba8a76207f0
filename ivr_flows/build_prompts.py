"""Build the project's own prompts: every ``source: synth`` entry of the catalogue, synthesised with festival +
festvox-ru (``msu_ru_nsh_clunits``) or espeak-ng (``-v ru``) and converted with sox to 8 kHz mono 16-bit PCM WAV.

Idempotent: ``<out>/.manifest.json`` keeps, per prompt, the hash of what made it (synthesiser, voice, text); a
prompt whose hash is unchanged and whose WAV exists is skipped, so a second run costs a few milliseconds.

    python -m ivr_flows.build_prompts [--out DIR] [--synth festival|espeak] [--catalogue FILE] [--only ID ...]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .prompts import CATALOGUE_FILE, PromptInfo, load_catalogue_file

BUILDER_VERSION = "1"  # bump to rebuild every prompt (e.g. after changing the sox chain)
FESTIVAL_VOICE = "msu_ru_nsh_clunits"


class BuildError(RuntimeError):
    pass


def pick_synth(requested: str | None = None) -> str:
    """festival when text2wave and the Russian voice are there, else espeak-ng; a requested one must exist."""
    festival_ok = shutil.which("text2wave") is not None and \
        Path("/usr/share/festival/voices/russian", FESTIVAL_VOICE).exists()
    espeak_ok = shutil.which("espeak-ng") is not None
    if requested == "festival" and not festival_ok:
        raise BuildError("festival with festvox-ru is not installed (apt-get install festival festvox-ru)")
    if requested == "espeak" and not espeak_ok:
        raise BuildError("espeak-ng is not installed (apt-get install espeak-ng)")
    if requested:
        return requested
    if festival_ok:
        return "festival"
    if espeak_ok:
        return "espeak"
    raise BuildError("no Russian speech synthesiser: install festival + festvox-ru, or espeak-ng")


def prompt_hash(prompt: PromptInfo, synth: str) -> str:
    voice = FESTIVAL_VOICE if synth == "festival" else "ru"
    return hashlib.sha256(f"{BUILDER_VERSION}\0{synth}\0{voice}\0{prompt.speak}".encode()).hexdigest()


def synthesise(text: str, synth: str, out: Path) -> None:
    """Synthesise ``text`` into ``out`` as 8 kHz mono 16-bit PCM (written atomically)."""
    if shutil.which("sox") is None:
        raise BuildError("sox is not installed (apt-get install sox)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="prompt-") as tmp:
        raw, final = Path(tmp, "raw.wav"), Path(tmp, "out.wav")
        if synth == "festival":
            cmd = ["text2wave", "-eval", f"(voice_{FESTIVAL_VOICE})", "-o", str(raw)]
            proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=120)
        else:
            cmd = ["espeak-ng", "-v", "ru", "-s", "150", "-w", str(raw), text]
            proc = subprocess.run(cmd, capture_output=True, timeout=120)
        if proc.returncode != 0 or not raw.exists() or raw.stat().st_size <= 44:
            raise BuildError(f"{synth} failed on {text!r}: {proc.stderr.decode(errors='replace')[-300:]}")
        sox = ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(final),
               "norm", "-3"]
        proc = subprocess.run(sox, capture_output=True, timeout=60)
        if proc.returncode != 0:
            raise BuildError(f"sox failed on {out.name}: {proc.stderr.decode(errors='replace')[-300:]}")
        tmp_out = out.with_name(f".{out.name}.{os.getpid()}")
        shutil.copyfile(final, tmp_out)
        os.replace(tmp_out, out)


def build(out_dir: Path, *, synth: str | None = None, catalogue_file: Path = CATALOGUE_FILE,
          only: list[str] | None = None, jobs: int = 2) -> dict:
    """Build what is missing or changed. Returns {"built": [...], "skipped": n, "synth": name}."""
    synth = pick_synth(synth)
    prompts = [p for p in load_catalogue_file(catalogue_file).values()
               if p.source == "synth" and (not only or p.id in only)]
    manifest_path = out_dir / ".manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        manifest = {}
    todo = [p for p in prompts
            if manifest.get(p.id) != prompt_hash(p, synth) or not (out_dir / f"{p.id}.wav").is_file()]

    def one(p: PromptInfo) -> str:
        synthesise(p.speak, synth, out_dir / f"{p.id}.wav")
        return p.id

    built = []
    if todo:
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            built = list(pool.map(one, todo))
        manifest.update({p.id: prompt_hash(p, synth) for p in todo})
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = manifest_path.with_name(".manifest.json.tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, manifest_path)
    return {"built": built, "skipped": len(prompts) - len(todo), "synth": synth}


def main(argv: list[str] | None = None) -> int:
    from .settings import IvrSettings, load_ivr_settings

    parser = argparse.ArgumentParser(prog="python -m ivr_flows.build_prompts", description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="prompt dir (default: [ivr] prompt_dir, else <venv>/share/hotline/prompts)")
    parser.add_argument("--synth", choices=("festival", "espeak"))
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE_FILE)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        ivr = load_ivr_settings()
    except Exception:  # a broken config file must not stop an install step that does not need it
        ivr = IvrSettings()
    out = Path(args.out) if args.out else ivr.effective_prompt_dir
    started = time.monotonic()
    try:
        result = build(out, synth=args.synth, catalogue_file=args.catalogue, only=args.only, jobs=args.jobs)
    except BuildError as exc:
        print(f"prompts: {exc}", file=sys.stderr)
        return 1
    print(f"prompts: {len(result['built'])} built, {result['skipped']} unchanged ({result['synth']}) in {out} "
          f"[{time.monotonic() - started:.1f} s]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
