"""Extraction of a request's facts from Russian text: the labelled set's targets, and the cases the issue names."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from transcription.extract import Registry, extract

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def registry():
    return Registry.from_csv(DATA / "buildings.csv")


@pytest.fixture(scope="module")
def labelled():
    return [json.loads(line) for line in (DATA / "extraction.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def results(labelled, registry):
    return [(row, extract(row["text"], registry)) for row in labelled]


def test_the_labelled_set_has_at_least_150_varied_utterances(labelled):
    assert len(labelled) >= 150
    kinds = {row["work_type"] for row in labelled}
    assert kinds >= {"water", "sewerage", "heating", "electricity", "gas", "elevator", "roof", "rubbish_chute",
                     "building", "intercom", "yard", "other"}
    assert 0.25 < sum(r["emergency"] for r in labelled) / len(labelled) < 0.6
    assert len({r["text"] for r in labelled}) == len(labelled)


def test_work_type_is_right_for_at_least_95_percent(results):
    wrong = [(r["text"], got["work_type"], r["work_type"]) for r, got in results if got["work_type"] != r["work_type"]]
    assert 1 - len(wrong) / len(results) >= 0.95, wrong


def test_emergency_recall_is_at_least_99_percent(results):
    urgent = [(r, got) for r, got in results if r["emergency"]]
    missed = [r["text"] for r, got in urgent if not got["emergency"]]
    assert 1 - len(missed) / len(urgent) >= 0.99, missed


def test_false_emergencies_stay_rare(results):
    calm = [(r, got) for r, got in results if not r["emergency"]]
    alarms = [r["text"] for r, got in calm if got["emergency"]]
    assert len(alarms) / len(calm) <= 0.10, alarms


def test_the_building_is_matched_for_at_least_90_percent(results):
    wrong = [(r["text"], got["building_id"], r["building_id"]) for r, got in results
             if got["building_id"] != r["building_id"]]
    assert 1 - len(wrong) / len(results) >= 0.90, wrong


def test_apartment_entrance_and_floor_are_right_for_at_least_90_percent(results):
    for name in ("apartment", "entrance", "floor"):
        right = sum(got[name] == r[name] for r, got in results)
        assert right / len(results) >= 0.90, name


@pytest.mark.parametrize("text,field,value", [
    ("квартира сто двадцать три", "apartment", 123),
    ("в сто двадцать третьей квартире", "apartment", 123),
    ("двенадцатый дом по улице ленина", "house", "12"),
    ("дом двенадцать а квартира пять", "house", "12а"),
    ("д. 45 корп. 2 кв. 100", "korpus", "2"),
    ("на пятом этаже", "floor", 5),
    ("третий подъезд", "entrance", 3),
    ("энтузиастов тридцать второй подъезд", "entrance", 2),
    ("энтузиастов тридцать второй подъезд", "house", "30"),
    ("заречная два дробь один", "house", "2/1"),
])
def test_numbers_spoken_as_words_and_ordinals(text, field, value, registry):
    assert extract(text, registry)[field] == value


@pytest.mark.parametrize("text", [
    "мой телефон восемь девятьсот двенадцать триста сорок пять шестьдесят семь восемьдесят девять",
    "перезвоните на 8 912 345-67-89",
    "позвоните после 18:30 или с 9 утра",
    "жду уже третий день и два часа",
])
def test_phone_numbers_and_times_are_not_taken_for_an_address(text, registry):
    got = extract(text, registry)
    assert [got[f] for f in ("house", "apartment", "entrance", "floor", "building_id")] == [None] * 5


@pytest.mark.parametrize("text,urgent", [
    ("пахнет газом в подъезде", True),
    ("газом не пахнет просто плита не работает", False),
    ("не пахнет газом", False),
    ("никто не застрял лифт просто стоит", False),
    ("застряли в лифте", True),
    ("розетка не искрит но болтается", False),
    ("чуть не упал кусок штукатурки", True),
    ("пахнит газам на кухне", True),
    ("у нас не авария лампочка перегорела", False),
])
def test_negations_and_misheard_words_in_emergency_detection(text, urgent):
    assert extract(text)["emergency"] is urgent


def test_street_abbreviations_and_a_misrecognised_street_name_match_the_registry(registry):
    assert extract("ул. Маршала Жукова, д. 7, кв. 33", registry)["building_id"] == "MZ7"
    assert extract("маршола жукава семь квартира сорок два", registry)["building_id"] == "MZ7"
    assert extract("пр-т мира 45 к 2", registry)["building_id"] == "M45K2"
    assert extract("на мира сорок пять", registry)["building_id"] is None  # two korpuses: not guessed


def test_without_a_registry_the_street_comes_from_its_type_word():
    got = extract("проспект космонавтов дом 8 квартира 3")
    assert (got["street"], got["house"], got["apartment"], got["building_id"]) == ("космонавтов", "8", 3, None)


def test_every_field_has_a_confidence_between_0_and_1(registry):
    got = extract("пахнет газом ленина 12 квартира 5", registry)
    assert set(got["confidence"]) == {"work_type", "emergency", "street", "house", "korpus", "apartment",
                                      "entrance", "floor", "building_id"}
    assert all(0.0 <= v <= 1.0 for v in got["confidence"].values())
    assert got["confidence"]["building_id"] > 0.6 and got["confidence"]["korpus"] == 0.0


def test_hotline_extract_reads_and_writes_json_lines():
    lines = "\n".join([json.dumps({"id": 1, "text": "течет кран ленина двенадцать квартира пять"},
                                  ensure_ascii=False), "not json", json.dumps({"id": "x", "text": ""})])
    out = subprocess.run([str(Path(sys.executable).parent / "hotline"), "extract", "--buildings",
                          str(DATA / "buildings.csv")], input=lines, capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows[0]["id"] == 1 and rows[0]["work_type"] == "water" and rows[0]["building_id"] == "L12"
    assert rows[0]["apartment"] == 5 and "building_pk" not in rows[0]
    assert rows[1] == {"line": 2, "error": "expected a JSON object with \"text\""}
    assert rows[2]["id"] == "x" and rows[2]["work_type"] == "other"


def test_hotline_extract_reads_the_foundations_building_file_in_windows_1251_with_russian_headers(tmp_path):
    """The file a УК exports for `hotline import buildings`: cp1251, ';', Russian headers in its own order."""
    text = ("Код дома;Город;Улица;Дом;Корпус;Подъездов;Этажей;Квартир;Примечание\r\n"
            "Л-12;Тверь;ул. Ленина;12;;4;9;144;угловой\r\n"
            "Ж-7;Тверь;ул. Маршала Жукова;7;2;6;12;288;\r\n")
    path = tmp_path / "дома.csv"
    path.write_bytes(text.encode("cp1251"))
    lines = "\n".join(json.dumps({"id": n, "text": t}, ensure_ascii=False) for n, t in (
        (1, "течет кран ленина двенадцать квартира пять"), (2, "маршала жукова семь корпус два не горит свет")))
    out = subprocess.run([str(Path(sys.executable).parent / "hotline"), "extract", "--buildings", str(path)],
                         input=lines, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["id"], r["building_id"], r["apartment"]) for r in rows] == [(1, "Л-12", 5), (2, "Ж-7", None)]


def test_hotline_extract_says_what_is_wrong_with_a_buildings_file_without_a_street_column(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes("Код дома;Город;Дом;Подъездов;Этажей;Квартир\r\nЛ-12;Тверь;12;4;9;144\r\n".encode("cp1251"))
    out = subprocess.run([str(Path(sys.executable).parent / "hotline"), "extract", "--buildings", str(path)],
                         input="", capture_output=True, text=True)
    assert out.returncode == 2 and "Cannot read the buildings file" in out.stderr and "'street'" in out.stderr
    assert "KeyError" not in out.stderr


def test_a_held_out_set_written_after_the_rules_were_frozen_stays_usable(registry):
    """30 utterances written after the rules; measured once (work type 0.87, emergency recall 15/16, building 1.0)
    and never tuned against: a guard against regressions, with bars below the labelled set's."""
    rows = [json.loads(line) for line in (DATA / "extraction_holdout.jsonl").read_text().splitlines() if line]
    got = [(r, extract(r["text"], registry)) for r in rows]
    urgent = [g["emergency"] for r, g in got if r["emergency"]]
    assert sum(g["work_type"] == r["work_type"] for r, g in got) / len(got) >= 0.8
    assert sum(urgent) / len(urgent) >= 0.9
    assert sum(g["building_id"] == r["building_id"] for r, g in got) / len(got) >= 0.9
