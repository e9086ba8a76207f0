"""Registry entities: a building knows its own places; organisations and staff validate what they are given."""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journal_api.domain.errors import ValidationError
from journal_api.domain.registry import Building, Organisation, Shift, Staff

from domain_objects import NOW, make_building


@given(apartment=st.integers(-5, 200), entrance=st.integers(-2, 10), floor=st.integers(-6, 15))
def test_check_place_accepts_exactly_the_places_inside_the_building(apartment, entrance, floor):
    building = make_building(entrances=4, floors=9, apartments=144)
    inside = 1 <= apartment <= 144 and 1 <= entrance <= 4 and -3 <= floor <= 9
    if inside:
        building.check_place(apartment, entrance, floor)
    else:
        with pytest.raises(ValidationError) as caught:
            building.check_place(apartment, entrance, floor)
        assert caught.value.field in ("apartment", "entrance", "floor")


def test_check_place_ignores_what_is_not_given():
    make_building(apartments=0).check_place(None, None, None)


@pytest.mark.parametrize("place,message", [
    ((145, None, None), "Apartment 145 is outside building B-10: it has apartments 1-144."),
    ((None, 5, None), "Entrance 5 is outside building B-10: it has entrances 1-4."),
    ((None, None, -4), "Floor -4 is outside building B-10: it has floors -3 (basement) to 9."),
])
def test_check_place_says_which_places_the_building_has(place, message):
    with pytest.raises(ValidationError) as caught:
        make_building().check_place(*place)
    assert caught.value.message == message


def test_a_building_without_apartments_refuses_every_apartment():
    with pytest.raises(ValidationError, match="apartments 1-0"):
        make_building(apartments=0).check_place(1, None, None)


@pytest.mark.parametrize("field,value", [("entrances", 0), ("floors", "nine"), ("apartments", -1),
                                         ("apartments", 2.5), ("street", " ")])
def test_a_building_refuses_counts_and_texts_that_make_no_sense(field, value):
    with pytest.raises(ValidationError) as caught:
        make_building(**{field: value}) if field != "street" else Building(1, "B-1", 1, value, "1")
    assert caught.value.field == field


def test_a_building_update_returns_only_what_changed_with_old_and_new_values():
    building = make_building()
    assert building.update(floors="12", entrances=4, korpus=" 2 ") == {"floors": (9, 12), "korpus": (None, "2")}
    assert (building.floors, building.korpus) == (12, "2")


def test_a_building_update_refuses_unknown_fields():
    with pytest.raises(ValidationError, match="Unknown building field 'colour'"):
        make_building().update(colour="red")


def test_a_building_address_reads_the_russian_way():
    building = make_building(korpus="2")
    assert building.address("Москва") == "Москва, ул. Ленина, д. 10, корп. 2"


@pytest.mark.parametrize("code", ["A", "Demo", "x" * 33, "-demo", "уk"])
def test_an_organisation_code_is_short_lowercase_latin(code):
    with pytest.raises(ValidationError) as caught:
        Organisation(code, "УК")
    assert caught.value.field == "code"


def test_an_organisation_needs_a_known_time_zone():
    assert Organisation("demo", "УК", "Asia/Vladivostok").tz.key == "Asia/Vladivostok"
    with pytest.raises(ValidationError, match="IANA"):
        Organisation("demo", "УК", "Moscow/Kremlin")


def test_staff_roles_are_checked_and_names_shorten_to_initials():
    assert Staff(1, "Иванов Иван Петрович", "technician", "+79120000000").short_name == "Иванов И.П."
    with pytest.raises(ValidationError) as caught:
        Staff(1, "Иванов", "plumber", "+79120000000")
    assert caught.value.field == "role"


def test_a_shift_must_end_after_it_starts():
    with pytest.raises(ValidationError):
        Shift(1, 5, NOW, NOW)
    assert Shift(1, 5, NOW, NOW + timedelta(hours=12)).kind == "shift"
