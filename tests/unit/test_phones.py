"""Phones are stored in E.164; Russian callers write them in many ways."""
from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from journal_api.domain.errors import InvalidPhone
from journal_api.domain.phones import maybe_phone, normalize_phone


@pytest.mark.parametrize("raw", ["8 (912) 345-67-89", "89123456789", "8-912-345-67-89", " 8 912 345 67 89 "])
def test_an_8_prefixed_russian_number_becomes_plus_7(raw):
    assert normalize_phone(raw) == "+79123456789"


@pytest.mark.parametrize("raw", ["+7 912 345-67-89", "+7 (912) 345 67 89", "+79123456789", "79123456789",
                                 "9123456789"])
def test_the_plus_7_forms_and_a_bare_national_number_give_the_same_number(raw):
    assert normalize_phone(raw) == "+79123456789"


def test_landlines_and_toll_free_numbers_are_accepted():
    assert normalize_phone("8 (495) 123-45-67") == "+74951234567"
    assert normalize_phone("8 800 555-35-35") == "+78005553535"


def test_a_foreign_number_in_international_form_keeps_its_country():
    assert normalize_phone("+1 650 253 0000") == "+16502530000"


@pytest.mark.parametrize("raw", ["звоните", "abc", "123", "+7912345678", "8912345678901", "+7 000 000-00-00"])
def test_garbage_is_refused_with_a_message_that_shows_the_expected_form(raw):
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone(raw, field="caller_phone")
    error = caught.value
    assert error.field == "caller_phone"
    assert f"'{raw}'" in error.message
    assert "Use the form +7 912 345-67-89." in error.message
    assert ".." not in error.message and "(1)" not in error.message


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_a_missing_number_is_required_but_optional_where_it_may_be_absent(raw):
    with pytest.raises(InvalidPhone, match="required"):
        normalize_phone(raw)
    assert maybe_phone(raw) is None


def test_maybe_phone_still_refuses_garbage():
    with pytest.raises(InvalidPhone):
        maybe_phone("garbage")


_separators = st.sampled_from(["", " ", "-", "(", ")", " - "])


@given(prefix=st.sampled_from(["8", "+7", "7", "", "+7 ", "8 "]),
       digits=st.lists(st.integers(0, 9), min_size=9, max_size=9), lead=st.sampled_from("34589"),
       seps=st.lists(_separators, min_size=10, max_size=10))
def test_normalising_a_normalised_number_changes_nothing(prefix, digits, lead, seps):
    national = lead + "".join(map(str, digits))
    # Dialled bare, 810... is Russia's international exit code (8, then 10), not a national number.
    assume(not (prefix == "" and national.startswith("810")))
    raw = prefix + "".join(sep + d for sep, d in zip(seps, national))
    try:
        once = normalize_phone(raw)
    except InvalidPhone:
        assume(False)
    assert once == "+7" + national
    assert normalize_phone(once) == once
    assert normalize_phone(once[1:]) == once  # without the plus it is still the same Russian number


def test_a_bare_810_number_is_read_as_an_international_call_as_a_russian_phone_would():
    assert normalize_phone("8104350100") == normalize_phone("+4350100")


def test_a_number_seen_before_comes_from_the_cache_and_a_refused_one_stays_refused_with_its_field():
    for _ in range(2):  # the second round is answered by the cache
        assert normalize_phone("8 (912) 345-67-89") == "+79123456789"
        assert normalize_phone("+7 912 345-67-89", region="KZ") == "+79123456789"
        with pytest.raises(InvalidPhone, match="is not a valid phone number") as invalid:
            normalize_phone("+7 000 000-00-00", field="caller_phone")
        assert invalid.value.field == "caller_phone"
        with pytest.raises(InvalidPhone, match="is not a phone number") as unparsable:
            normalize_phone("звоните", field="phone")
        assert unparsable.value.field == "phone"
