"""The dispatcher corrects the caller's phone through the request service, on the real database: the phone is
normalised as at registration, an empty value clears it, a wrong one is refused, and the history keeps each
correction."""
from __future__ import annotations

import pytest
from console_support import DISPATCHER

from journal_api.domain.errors import ValidationError


def _phone_lines(container, org, number):
    return [(e.old_value, e.new_value, e.actor_name) for e in container.requests.history(org.id, number, DISPATCHER)
            if e.field == "caller_phone"]


def test_a_corrected_phone_is_saved_in_e164_and_each_correction_is_in_the_history(container, org, make_request):
    request = make_request()
    assert request.caller_phone == "+79035551001"
    container.requests.update(org.id, request.number, DISPATCHER, "dispatcher", {"caller_phone": "8 912 000-33-44"})
    assert container.requests.get(org.id, request.number, DISPATCHER).caller_phone == "+79120003344"
    container.requests.update(org.id, request.number, DISPATCHER, "dispatcher", {"caller_phone": "+7 (912) 000 55 66"})
    assert container.requests.get(org.id, request.number, DISPATCHER).caller_phone == "+79120005566"
    assert _phone_lines(container, org, request.number) == [
        ("+79035551001", "+79120003344", DISPATCHER.name), ("+79120003344", "+79120005566", DISPATCHER.name)]


def test_an_empty_phone_clears_it(container, org, make_request):
    request = make_request()
    container.requests.update(org.id, request.number, DISPATCHER, "dispatcher", {"caller_phone": ""})
    assert container.requests.get(org.id, request.number, DISPATCHER).caller_phone is None
    assert _phone_lines(container, org, request.number) == [("+79035551001", None, DISPATCHER.name)]


def test_a_wrong_phone_is_refused_on_the_field_and_nothing_is_saved(container, org, make_request):
    request = make_request()
    with pytest.raises(ValidationError) as refused:
        container.requests.update(org.id, request.number, DISPATCHER, "dispatcher",
                                  {"caller_phone": "123", "caller_name": "Мария"})
    assert refused.value.field == "caller_phone"
    saved = container.requests.get(org.id, request.number, DISPATCHER)
    assert (saved.caller_phone, saved.caller_name) == ("+79035551001", None)
    assert _phone_lines(container, org, request.number) == []


def test_the_phone_can_be_corrected_together_with_the_building(container, org, make_request, building):
    request = make_request()
    container.requests.update(org.id, request.number, DISPATCHER, "dispatcher", {"caller_phone": "89120007788"},
                              building_id=building.id, building_given=True)
    assert container.requests.get(org.id, request.number, DISPATCHER).caller_phone == "+79120007788"
