"""The extraction's tokeniser: the regex of transcription/extract/text.py against razdel (issue 5 audit, item 6).

Runs the labelled set (205) and the held-out set (30) through `extract` with each tokeniser and prints the figures
(work type accuracy, emergency recall and false alarms, building and apartment) and the cost of tokenising alone.
Result of 27 Nov 2026: the token lists are identical on all 235 utterances (the text is cleaned first: lowercase,
phones and times masked, numbers split from letters, so razdel's rules for punctuation, abbreviations and
numbers have nothing left to decide), the figures are identical, and razdel costs ~3x more (0.38 vs 0.13 ms per
utterance). razdel was dropped from the dependencies. To run this again: `.venv/bin/pip install razdel`, then
`.venv/bin/python bench/transcribe_tokeniser.py`."""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import razdel  # noqa: E402

import transcription.extract.text as T  # noqa: E402
from transcription.extract import Registry, extract  # noqa: E402

DATA = ROOT / "tests" / "transcription" / "data"
ORIG = T.TOKEN_RE
KEEP = re.compile(r"^(?:<phone>|<time>|\d+|[а-яa-z]+(?:-[а-яa-z]+)?|/)$")


class RazdelTokens:
    """razdel's tokens, keeping the token classes the extraction uses (the regex inside a token razdel keeps whole,
    e.g. "12-15")."""

    def findall(self, text: str) -> list[str]:
        text = text.replace("<phone>", " zzphonezz ").replace("<time>", " zztimezz ")
        out = []
        for tok in razdel.tokenize(text):
            w = tok.text.replace("zzphonezz", "<phone>").replace("zztimezz", "<time>")
            out.extend([w] if KEEP.match(w) else ORIG.findall(w))
        return out


def figures(registry) -> dict:
    res = {}
    for name in ("extraction.jsonl", "extraction_holdout.jsonl"):
        rows = [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]
        got = [(r, extract(r["text"], registry)) for r in rows]
        urgent = [g["emergency"] for r, g in got if r["emergency"]]
        res[name] = {"n": len(rows),
                     "work_type": round(sum(g["work_type"] == r["work_type"] for r, g in got) / len(got), 4),
                     "emergency_recall": f"{sum(urgent)}/{len(urgent)}",
                     "false_alarms": sum(g["emergency"] for r, g in got if not r["emergency"]),
                     "building": round(sum(g["building_id"] == r["building_id"] for r, g in got) / len(got), 4),
                     "apartment": sum(g.get("apartment") == r.get("apartment") for r, g in got)}
    return res


def main() -> None:
    registry = Registry.from_file(DATA / "buildings.csv")
    texts = [json.loads(line)["text"] for name in ("extraction.jsonl", "extraction_holdout.jsonl")
             for line in (DATA / name).read_text().splitlines() if line.strip()]
    out = {}
    for name, tok in (("regex", ORIG), ("razdel", RazdelTokens())):
        T.TOKEN_RE = tok
        out[name] = figures(registry)
        t0 = time.perf_counter()
        for _ in range(20):
            for text in texts:
                tok.findall(T._clean(text))
        out[name]["tokenise_us_per_utterance"] = round((time.perf_counter() - t0) / 20 / len(texts) * 1e6, 1)
    T.TOKEN_RE = ORIG
    out["utterances_tokenised_differently"] = sum(ORIG.findall(T._clean(t)) != RazdelTokens().findall(T._clean(t))
                                                  for t in texts)
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
