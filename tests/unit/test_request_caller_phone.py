"""The dispatcher corrects the caller's phone: stored in E.164 as at registration, an empty value clears it, a
wrong one is refused on the field caller_phone, and each correction is a line of the history."""
from __future__ import annotations

from datetime import timedelta

import pytest

from journal_api.domain.errors import ValidationError

from domain_objects import NOW

LATER = NOW + timedelta(minutes=5)


def _fresh(request):
    request._init_pending()
    return request


def test_a_corrected_phone_is_stored_in_e164_with_a_history_entry_and_an_event(make_request, dispatcher_actor):
    request = _fresh(make_request())
    changed = request.update({"caller_phone": "8 (912) 000-33-44"}, dispatcher_actor, "dispatcher", LATER)
    assert changed == ["caller_phone"]
    assert request.caller_phone == "+79120003344"
    [entry] = request.pending_history
    assert (entry.kind, entry.field, entry.old_value, entry.new_value) == \
        ("field", "caller_phone", "+79120001122", "+79120003344")
    [event] = request.pending_events
    assert (event.name, event.data["fields"]) == ("request.updated", ["caller_phone"])


def test_the_same_phone_written_otherwise_is_no_change(make_request, dispatcher_actor):
    request = _fresh(make_request())
    assert request.update({"caller_phone": "+7 912 000-11-22"}, dispatcher_actor, "dispatcher", LATER) == []
    assert request.pending_history == []


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_an_empty_phone_clears_it(make_request, dispatcher_actor, empty):
    request = _fresh(make_request())
    assert request.update({"caller_phone": empty}, dispatcher_actor, "dispatcher", LATER) == ["caller_phone"]
    assert request.caller_phone is None
    assert request.pending_history[0].old_value == "+79120001122" and request.pending_history[0].new_value is None


@pytest.mark.parametrize("wrong", ["12345", "позвонить соседке", "+7 912 000"])
def test_a_wrong_phone_is_refused_on_its_field_and_nothing_changes(make_request, dispatcher_actor, wrong):
    request = _fresh(make_request())
    with pytest.raises(ValidationError) as refused:
        request.update({"caller_phone": wrong, "caller_name": "Мария"}, dispatcher_actor, "dispatcher", LATER)
    assert refused.value.field == "caller_phone"
    assert request.caller_phone == "+79120001122" and request.caller_name is None
    assert request.pending_history == []


def test_the_phone_is_read_in_the_organisations_region(make_request, dispatcher_actor):
    request = _fresh(make_request())
    request.update({"caller_phone": "0501234567"}, dispatcher_actor, "dispatcher", LATER, phone_region="UA")
    assert request.caller_phone == "+380501234567"
