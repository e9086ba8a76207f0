"""The registry service on real PostgreSQL."""
from journal_api.domain.events import Actor

SYSTEM = Actor.system("test")


def test_an_upserted_building_can_be_read_with_its_city_and_complex_after_the_call(container, org, building):
    assert (building.city.name, building.complex.name) == ("Москва", "ЖК Солнечный")
    moved = container.registry.upsert_building(org.id, SYSTEM, {
        "building_id": "B-1", "city": "Химки", "street": "ул. Ленина", "house": "10", "entrances": 4,
        "floors": 9, "apartments": 144})
    assert (moved.id, moved.city.name, moved.complex) == (building.id, "Химки", None)
    assert moved.address(moved.city.name) == "Химки, ул. Ленина, д. 10"
