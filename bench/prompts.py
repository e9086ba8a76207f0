"""IVR prompts and interpreter: how fast the prompts build, how well a recogniser understands them, how fast the
interpreter steps.

1. Synthesis: every `source: synth` prompt of the catalogue built from scratch into a temporary dir with festival
   (festvox-ru) and with espeak-ng; seconds per prompt.
2. Intelligibility: faster-whisper "base" (the multilingual model of the [test] install, language ru, CPU int8)
   transcribes the synthesised prompts and, as the baseline in the same run, human-voiced Asterisk RU prompts with
   known transcripts; word error rate (jiwer) of each, and the ratio synthesised / human. Whisper base is a weak
   Russian recogniser: the ratio is what matters, not the absolute WER.
3. Interpreter: step() calls per second walking the default flow's emergency path, against a baseline of steps
   that are ignored (the dispatch cost alone).

    .venv/bin/python bench/prompts.py [--limit N] [--model DIR]

The machine is shared with other work while this runs: figures are noisy.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr_flows import load_flow, step  # noqa: E402
from ivr_flows.build_prompts import build, pick_synth  # noqa: E402
from ivr_flows.events import Digits, InvokeResult, PlayDone, Recorded, Started  # noqa: E402
from ivr_flows.prompts import ASTERISK_DIR, load_catalogue_file  # noqa: E402

DIGITS = {"0": "ноль", "1": "один", "2": "два", "3": "три", "4": "четыре", "5": "пять", "6": "шесть", "7": "семь",
          "8": "восемь", "9": "девять", "10": "десять", "104": "сто четыре", "112": "сто двенадцать"}
HUMAN = ["agent-pass", "auth-incorrect", "conf-getconfno", "conf-onlyperson", "check-number-dial-again",
         "cannot-complete-as-dialed", "conf-invalid", "agent-loginok", "confbridge-pin", "dictate/forhelp",
         "auth-thankyou", "conf-placeintoconf", "agent-newlocation", "conf-getchannel"]


def normalise(text: str) -> str:
    text = text.lower().replace("ё", "е")
    text = re.sub(r"\d+", lambda m: " " + DIGITS.get(m.group(0), m.group(0)) + " ", text)
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def transcripts() -> dict[str, str]:
    out = {}
    with gzip.open("/usr/share/doc/asterisk-core-sounds-ru/core-sounds-ru.txt.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            m = re.match(r"^([\w/-]+): (.*)$", line.strip())
            if m:
                out[m.group(1)] = m.group(2)
    return out


def wer(model, pairs: list[tuple[Path, str]]) -> tuple[float, list[tuple[str, str]]]:
    import jiwer

    refs, hyps = [], []
    for path, ref in pairs:
        segments, _ = model.transcribe(str(path), language="ru", beam_size=1, vad_filter=False)
        refs.append(normalise(ref))
        hyps.append(normalise(" ".join(s.text for s in segments)) or "-")
    return jiwer.wer(refs, hyps), list(zip(refs, hyps))


def steps_per_second(seconds: float = 1.0) -> tuple[float, float]:
    flow = load_flow("default")
    script = [Digits("1"), Digits("2"),
              InvokeResult("lookup_caller", True, {"building_id": 3, "apartment": 45}),
              Recorded("description", 10, "silence"),
              InvokeResult("register_request", True, {"number": 1234, "due_local": "2026-11-26T18:00:00+03:00"})]

    def walk() -> int:
        _, s = step(flow, None, Started("+79035551001", "+74950000000", 1))
        for event in script:
            _, s = step(flow, s, event)
        return 1 + len(script)

    def ignored() -> int:
        _, s = step(flow, None, Started("+79035551001", "+74950000000", 1))
        for _ in script:
            step(flow, s, PlayDone())
        return 1 + len(script)

    rates = []
    for fn in (walk, ignored):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            n += fn()
        rates.append(n / (time.perf_counter() - t0))
    return rates[0], rates[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N synthesised prompts (0: all)")
    parser.add_argument("--model", default=str(Path(sys.prefix) / "share/hotline/models/whisper-base"))
    args = parser.parse_args()
    catalogue = load_catalogue_file()
    synth_ids = [p.id for p in catalogue.values() if p.source == "synth"]
    if args.limit:
        synth_ids = synth_ids[:args.limit]
    result = {"at": datetime.now().isoformat(timespec="seconds"), "prompts": len(synth_ids), "synth": {}}
    engines = [e for e in ("festival", "espeak") if _available(e)]
    dirs = {}
    tmp = tempfile.TemporaryDirectory(prefix="bench-prompts-")
    for engine in engines:
        out = Path(tmp.name) / engine
        t0 = time.perf_counter()
        built = build(out, synth=engine, only=synth_ids, jobs=1)["built"]
        elapsed = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = build(out, synth=engine, only=synth_ids, jobs=1)["built"]
        dirs[engine] = out
        result["synth"][engine] = {"built": len(built), "s_per_prompt": elapsed / max(1, len(built)),
                                   "rebuild_s": time.perf_counter() - t1, "rebuilt": len(again)}
        print(f"{engine:9s} {len(built)} prompts, {elapsed / max(1, len(built)):.2f} s/prompt; "
              f"second run {result['synth'][engine]['rebuild_s'] * 1000:.0f} ms, {len(again)} rebuilt")
    try:
        from faster_whisper import WhisperModel

        model = WhisperModel(args.model, device="cpu", compute_type="int8", cpu_threads=2)
    except Exception as exc:  # noqa: BLE001 - the bench still reports the rest
        print(f"intelligibility skipped: {exc}")
        model = None
    if model is not None:
        texts = transcripts()
        human = [(ASTERISK_DIR / f"{pid}.wav", texts[pid]) for pid in HUMAN if pid in texts]
        base, _ = wer(model, human)
        result["wer_human"] = base
        print(f"WER human-voiced Asterisk RU ({len(human)} prompts, baseline): {base:.3f}")
        for engine, out in dirs.items():
            pairs = [(out / f"{pid}.wav", catalogue[pid].speak) for pid in synth_ids
                     if len(catalogue[pid].speak.split()) >= 3]  # single words say little about intelligibility
            value, detail = wer(model, pairs)
            result[f"wer_{engine}"] = value
            worst = sorted(detail, key=lambda rh: -_word_errors(*rh))[:3]
            print(f"WER {engine} ({len(pairs)} phrases): {value:.3f}  ratio to human {value / max(base, 1e-9):.2f}")
            for ref, hyp in worst:
                print(f"    ref: {ref}\n    hyp: {hyp}")
    walk, ignored = steps_per_second()
    result.update(steps_per_s=walk, ignored_steps_per_s=ignored)
    print(f"interpreter: {walk:,.0f} steps/s on the emergency path; {ignored:,.0f} ignored steps/s "
          f"(baseline); ratio {walk / ignored:.2f}")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"prompts-{datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(f"written {path.relative_to(ROOT)}")
    return 0


def _available(engine: str) -> bool:
    try:
        pick_synth(engine)
        return True
    except Exception:  # noqa: BLE001
        return False


def _word_errors(ref: str, hyp: str) -> float:
    import jiwer

    return jiwer.wer(ref, hyp)


if __name__ == "__main__":
    raise SystemExit(main())
