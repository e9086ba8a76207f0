"""The Monitor's figures lead to the journal: every count is a link to the journal listing exactly the requests it
counts, with an unassigned column per breakdown and reasons read as their titles. The journal's reason filter and its
free-text search: a catalogue code matches exactly, other text case-insensitively as a substring; the search also
finds a request by its building's street and house, and by its reason."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from console_support import DISPATCHER, SYSTEM

from journal_api.bootstrap import bootstrap
from journal_api.service import console_monitor
from journal_api.service.console_monitor import ConsoleFilter
from journal_api.service.queries import RequestFilter, parse_address
from journal_api.service.requests import NewRequest
from journal_api.service.uow import MemoryPublisher

PIPE_BURST_TITLE = "Прорыв или течь трубы водоснабжения"
ROW = re.compile(r'href="/requests/(\d+)"')
FIGURE = re.compile(r'<a href="(/journal\?[^"]*)">(\d+)</a>')


@pytest.fixture
def scene(container, settings, pg_engine, org, building, technician):
    """Ленина 10 к2 (the ``building``): a pipe burst three days old (catalogue reason, overdue, unassigned) and a
    roof leak (free-text reason, assigned). Ленина 15: a lift with "протечка в подъезде" (unassigned). Мира 10: a
    request without a reason. Иванов is responsible for water at Ленина 10, Сидоров only as his backup there, and
    first for the lifts of Ленина 15."""
    registry = container.registry
    size = {"entrances": 2, "floors": 5, "apartments": 40}
    lenina_15 = registry.upsert_building(org.id, SYSTEM, {
        "building_id": "B-2", "city": "Москва", "complex": "ЖК Солнечный", "street": "ул. Ленина", "house": "15",
        **size})
    mira_10 = registry.upsert_building(org.id, SYSTEM, {"building_id": "B-3", "city": "Москва",
                                                        "street": "пр-т Мира", "house": "10", **size})
    past = container.clock() - timedelta(days=3)
    old = bootstrap(settings, publisher=MemoryPublisher(), engine=pg_engine, clock=lambda: past)

    def new(c, building_id, **fields):
        return c.requests.register(org.id, DISPATCHER, NewRequest(**{
            "description": "Заявка", "building_id": building_id, "channel": "phone", **fields}))

    burst = new(old, building.id, work_type="water", reason="water.pipe_burst")
    roof = new(container, building.id, work_type="water", reason="Протечка крыши")
    container.requests.assign(org.id, roof.number, SYSTEM, "system", technician.id)
    lift = new(container, lenina_15.id, work_type="elevator", reason="протечка в подъезде")
    bare = new(container, mira_10.id, work_type="electricity")
    backup = registry.upsert_staff(org.id, SYSTEM, {"full_name": "Сидоров Пётр Ильич", "role": "technician",
                                                    "phone": "+7 912 345-67-00"})
    registry.add_responsibility(org.id, SYSTEM, building.id, "water", technician.id, 1)
    registry.add_responsibility(org.id, SYSTEM, building.id, "water", backup.id, 2)
    registry.add_responsibility(org.id, SYSTEM, lenina_15.id, "elevator", backup.id, 1)
    return {"burst": burst, "roof": roof, "lift": lift, "bare": bare, "backup": backup}


def _listed(console, path: str) -> set[int]:
    page = console.get(path)
    assert page.status_code == 200, path
    return {int(n) for n in ROW.findall(page.get_data(as_text=True))}


def _numbers(*requests) -> set[int]:
    return {r.number for r in requests}


def _by_label(m: dict, kind: str) -> dict:
    return {cell["label"]: cell for _, cell in m["by"][kind]}


def test_each_breakdown_counts_its_unassigned_requests(container, org, technician, scene):
    m = console_monitor.monitor(container.engine, org.id, ConsoleFilter(), container.clock())
    assert m["totals"]["unassigned"] == 3
    assert dict(m["by"]["work_type"])["water"]["unassigned"] == 1
    assert dict(m["by"]["work_type"])["elevator"]["unassigned"] == 1
    assert dict(m["by"]["reason"])["water.pipe_burst"]["unassigned"] == 1
    assert dict(m["by"]["reason"])["Протечка крыши"]["unassigned"] == 0
    assert _by_label(m, "responsible")[technician.full_name] == {
        "label": technician.full_name, "open": 2, "overdue": 1, "urgent": 0, "unassigned": 1}
    assert _by_label(m, "responsible")["Сидоров Пётр Ильич"]["open"] == 1  # a backup counts only where he is first
    assert _by_label(m, "building")["ул. Ленина, д. 10, корп. 2"]["unassigned"] == 1
    assert _by_label(m, "city")["Москва"]["unassigned"] == 3


def test_the_monitor_page_shows_an_unassigned_column_and_reasons_as_titles(console, scene):
    page = console.get("/monitor").get_data(as_text=True)
    reasons = page.split('id="by-reason"')[1].split("</table>")[0]
    assert "<th>Не назначены</th>" in reasons
    assert PIPE_BURST_TITLE in reasons and ">water.pipe_burst<" not in reasons
    assert "reason=water.pipe_burst" in reasons  # the link carries the code
    assert "Протечка крыши" in reasons  # free text as typed
    executors = page.split('id="by-executor"')[1].split("</table>")[0]
    assert "Не назначены" not in executors  # the unassigned are a row of their own there


def test_every_figure_of_the_monitor_links_to_a_journal_listing_exactly_the_requests_it_counts(console, scene):
    page = console.get("/monitor").get_data(as_text=True)
    figures = [(html.unescape(href), int(n)) for href, n in FIGURE.findall(page)]
    assert len(figures) > 40  # tiles aside, every cell of every table
    for href, n in figures:
        assert len(_listed(console, href)) == n, href


def test_a_cell_of_the_responsible_person_lists_only_the_requests_he_is_first_responsible_for(console, scene):
    page = console.get("/monitor").get_data(as_text=True)
    table = page.split('id="by-responsible"')[1].split("</table>")[0]
    sidorov = table.split("Сидоров Пётр Ильич")[1].split("</tr>")[0]
    href = html.unescape(FIGURE.search(sidorov).group(1))
    assert f"responsible={scene['backup'].id}" in href and "open=1" in href
    assert _listed(console, href) == _numbers(scene["lift"])


def test_an_unassigned_cell_lists_the_unassigned_requests_of_its_row(console, technician, scene):
    page = console.get("/monitor").get_data(as_text=True)
    table = page.split('id="by-work_type"')[1].split("</table>")[0]
    water = next(row for row in table.split("</tr>") if "work_type=water" in row)
    unassigned = html.unescape(FIGURE.findall(water)[-1][0])
    assert "assignee=none" in unassigned and "work_type=water" in unassigned
    assert _listed(console, unassigned) == _numbers(scene["burst"])


def test_a_catalogue_reason_filter_matches_its_code_exactly(console, scene):
    assert _listed(console, "/journal?reason=water.pipe_burst") == _numbers(scene["burst"])


def test_a_free_text_reason_filter_matches_case_insensitively_as_a_substring(console, container, org, scene):
    assert _listed(console, "/journal?reason=ПРОТЕЧКА") == _numbers(scene["roof"], scene["lift"])
    assert _listed(console, "/journal?reason=крыши") == _numbers(scene["roof"])
    assert _listed(console, "/journal?reason=прорыв") == _numbers(scene["burst"])  # a catalogue title's words
    m = console_monitor.monitor(container.engine, org.id, ConsoleFilter(reason="протечка"), container.clock())
    assert m["totals"]["open"] == 2


@pytest.mark.parametrize("q", ["Ленина 10", "ленина, 10", "Ленина д. 10", "ул. Ленина, д. 10, корп. 2",
                               "Ленина 10к2"])
def test_the_search_finds_requests_by_street_and_house(console, scene, q):
    assert _listed(console, f"/journal?q={q}") == _numbers(scene["burst"], scene["roof"])


def test_the_search_by_address_does_not_find_another_house_or_korpus(console, scene):
    assert _listed(console, "/journal?q=Ленина 15") == _numbers(scene["lift"])
    assert _listed(console, "/journal?q=Ленина 1") == set()
    assert _listed(console, "/journal?q=Ленина 10 корп 3") == set()
    assert _listed(console, "/journal?q=Мира 10") == _numbers(scene["bare"])


def test_the_search_finds_requests_by_reason_code_or_title(console, scene):
    assert _listed(console, "/journal?q=течь трубы") == _numbers(scene["burst"])
    assert _listed(console, "/journal?q=water.pipe_burst") == _numbers(scene["burst"])
    assert _listed(console, "/journal?q=в подъезде") == _numbers(scene["lift"])


def test_an_address_is_street_words_then_a_house_then_perhaps_a_korpus():
    assert parse_address("Ленина 5") == (["ленина"], "5", None)
    assert parse_address("ленина, 5") == parse_address("Ленина д. 5") == (["ленина"], "5", None)
    assert parse_address("ул. Ленина, д. 10, корп. 2") == parse_address("Ленина 10к2") == (["ленина"], "10", "2")
    assert parse_address("8 Марта 12") == (["8", "марта"], "12", None)
    assert parse_address("пр-т Мира 5/2") == (["мира"], "5/2", None)
    assert parse_address("кран") is None and parse_address("Ленина") is None and parse_address("12") is None


def test_the_reason_filter_and_the_address_search_work_on_the_embedded_sqlite_too(sqlite_container):
    from journal_api.seed import seed_demo

    c = sqlite_container
    seed_demo(c)
    org = c.registry.organisation_by_code("demo")
    building = c.registry.list_buildings(org.id)[0]
    other = next(b for b in c.registry.list_buildings(org.id) if (b.street, b.house) != (building.street,
                                                                                          building.house))
    leak = c.requests.register(org.id, DISPATCHER, NewRequest(description="Заявка", work_type="water",
                                                              building_id=building.id, channel="phone",
                                                              reason="Протечка крыши"))
    c.requests.register(org.id, DISPATCHER, NewRequest(description="Заявка", work_type="water",
                                                       building_id=other.id, channel="phone"))

    def listed(cf):
        return {r.number for r in console_monitor.list_page(c.uow, org.id, cf).items}

    assert leak.number in listed(ConsoleFilter(reason="ПРОТЕЧКА"))
    found = listed(ConsoleFilter(base=RequestFilter(q=f"{building.street.split()[-1]} {building.house}")))
    assert leak.number in found and all(r.building_id == building.id for r in console_monitor.list_page(
        c.uow, org.id, ConsoleFilter(base=RequestFilter(q=f"{building.street.split()[-1]} {building.house}"))).items)
    m = console_monitor.monitor(c.engine, org.id, ConsoleFilter(), c.clock())
    unassigned = listed(ConsoleFilter(base=RequestFilter(unassigned=True), open_only=True))
    assert m["totals"]["unassigned"] == len(unassigned) == sum(cell["unassigned"] for _, cell in m["by"]["building"])
