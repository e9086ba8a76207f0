"""Numbers and dates as prompt ids, the prompt catalogue and the prompt builder."""
from __future__ import annotations

import json
import wave
from datetime import datetime, timedelta, timezone

import pytest

from ivr_flows import say
from ivr_flows.build_prompts import build, pick_synth
from ivr_flows.prompts import ASTERISK_DIR, Catalogue, journal_text, load_catalogue_file


def words(ids):
    catalogue = load_catalogue_file()
    return " ".join(catalogue[i].text for i in ids)


@pytest.mark.parametrize("n, spoken", [
    (0, "ноль"), (7, "семь"), (11, "одиннадцать"), (21, "двадцать один"), (45, "сорок пять"), (100, "сто"),
    (101, "сто один"), (200, "двести"), (999, "девятьсот девяносто девять"), (1000, "тысяча"),
    (1001, "тысяча один"), (2000, "две тысячи"), (2345, "две тысячи триста сорок пять"), (5000, "пять тысяч"),
    (21000, "двадцать одна тысяча"), (1_000_000, "один миллион"), (2_500_000, "два миллиона пятьсот тысяч"),
    (-3, "минус три"),
])
def test_numbers_are_said_as_russian_numerals(n, spoken):
    assert words(say.number_prompts(n)) == spoken


def test_feminine_and_neuter_forms_where_the_files_allow():
    assert words(say.number_prompts(1, gender="f")) == "одна"
    assert words(say.number_prompts(22, gender="f")) == "двадцать две"
    assert words(say.number_prompts(1, gender="n")) == "одно"


def test_a_request_number_is_said_digit_by_digit():
    assert say.number_prompts(1204, digits=True) == ["digits/1", "digits/2", "digits/0", "digits/4"]


@pytest.mark.parametrize("hour, minute, spoken", [
    (18, 0, "восемнадцать часов"), (21, 0, "двадцать один час"), (22, 0, "двадцать два часа"),
    (0, 0, "ноль часов"), (9, 30, "девять часов тридцать минут"), (13, 1, "тринадцать часов одна минута"),
    (10, 22, "десять часов двадцать две минуты"),
])
def test_times_agree_with_their_numbers(hour, minute, spoken):
    assert words(say.time_prompts(hour, minute)) == spoken


def test_a_deadline_is_said_as_hours_day_and_month():
    local = datetime(2026, 11, 26, 18, 0, tzinfo=timezone(timedelta(hours=3)))
    assert say.datetime_prompts(local) == ["digits/18", "digits/oclock", "digits/20", "digits/6", "digits/mon-10"]
    assert words(say.datetime_prompts(local.isoformat())) == "восемнадцать часов двадцать шесть ноября"
    assert words(say.date_prompts(1, 1)) == "один января"


def test_every_prompt_any_number_or_date_needs_is_in_the_catalogue():
    known = Catalogue([]).ids()
    needed = {p for n in list(range(0, 2100)) + [10**k + 7 for k in range(4, 9)] + [999_999_999]
              for p in say.number_prompts(n) + say.number_prompts(n, gender="f")}
    needed |= {p for h in range(24) for m in range(60) for p in say.time_prompts(h, m)}
    needed |= {p for month in range(1, 13) for p in say.date_prompts(31, month)}
    assert needed <= known, sorted(needed - known)


def test_every_asterisk_prompt_of_the_catalogue_is_a_real_8khz_file():
    catalogue = Catalogue([])
    for pid, info in catalogue.prompts.items():
        if info.source == "asterisk":
            with wave.open(str(catalogue.path(pid))) as w:
                assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2), pid


def test_an_organisations_recording_wins_over_the_synthesised_prompt_and_asterisk(tmp_path):
    org, synth = tmp_path / "org", tmp_path / "synth"
    for root in (org, synth):
        (root / "ivr").mkdir(parents=True)
        (root / "ivr" / "greeting.wav").write_bytes(b"RIFF")
    (synth / "digits").mkdir()
    (synth / "digits" / "5.wav").write_bytes(b"RIFF")
    catalogue = Catalogue([org, synth])
    assert catalogue.path("ivr/greeting") == org / "ivr" / "greeting.wav"
    assert catalogue.path("digits/5") == synth / "digits" / "5.wav"
    assert catalogue.path("digits/6") == ASTERISK_DIR / "digits" / "6.wav"
    with pytest.raises(KeyError):
        catalogue.path("../../etc/passwd")
    with pytest.raises(FileNotFoundError, match="build the prompts"):
        Catalogue([tmp_path / "empty"]).path("ivr/goodbye")
    assert catalogue.text("ivr/goodbye").startswith("Спасибо")
    assert catalogue.texts(["ivr/your_request_number", "digits/1", "digits/2"]) == "Ваша заявка номер один два"
    assert "расшифровки" in journal_text("description_pending")


def test_an_organisation_may_replace_a_prompt_by_its_code_or_id(tmp_path):
    root = tmp_path / "prompts"
    (root / "demo" / "ivr").mkdir(parents=True)
    (root / "demo" / "ivr" / "greeting.wav").write_bytes(b"RIFF")
    synth = tmp_path / "synth"
    (synth / "ivr").mkdir(parents=True)
    (synth / "ivr" / "greeting.wav").write_bytes(b"RIFF")
    catalogue = Catalogue([synth], org_root=root)
    assert catalogue.path("ivr/greeting", org="demo") == root / "demo" / "ivr" / "greeting.wav"
    assert catalogue.path("ivr/greeting", org="other") == synth / "ivr" / "greeting.wav"
    assert catalogue.path("ivr/greeting") == synth / "ivr" / "greeting.wav"
    assert catalogue.path("ivr/greeting", org="../demo") == synth / "ivr" / "greeting.wav"


def test_the_builder_makes_8khz_prompts_skips_unchanged_texts_and_rebuilds_changed_ones(tmp_path):
    cat = tmp_path / "catalogue.yaml"
    cat.write_text("prompts:\n  ivr/a: {text: \"Здравствуйте\", source: synth}\n"
                   "  ivr/b: {text: \"Нажмите 1\", speak: \"Нажмите один\", source: synth}\n"
                   "  digits/1: {text: \"один\", source: asterisk}\n", encoding="utf-8")
    out = tmp_path / "prompts"
    try:  # the builder's mechanics, with the fast synthesiser; festival runs at install time (10-prompts.sh)
        synth = pick_synth("espeak")
    except Exception:
        synth = pick_synth()
    first = build(out, synth=synth, catalogue_file=cat)
    assert sorted(first["built"]) == ["ivr/a", "ivr/b"]
    for pid in first["built"]:
        with wave.open(str(out / f"{pid}.wav")) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert w.getnframes() > 8000 * 0.3
    assert build(out, synth=synth, catalogue_file=cat) == {"built": [], "skipped": 2, "synth": synth}
    cat.write_text(cat.read_text(encoding="utf-8").replace("Здравствуйте", "Добрый день"), encoding="utf-8")
    assert build(out, synth=synth, catalogue_file=cat)["built"] == ["ivr/a"]
    (out / "ivr" / "b.wav").unlink()
    assert build(out, synth=synth, catalogue_file=cat)["built"] == ["ivr/b"]
    assert set(json.loads((out / ".manifest.json").read_text())) == {"ivr/a", "ivr/b"}
