"""Fill a PostgreSQL database for bench/journal.py: the registry through the service layer, then the requests by
COPY with realistic distributions (mostly closed, a long tail of open ones, ~10% emergencies with their deadlines,
two years of registrations, Russian descriptions from a small vocabulary)."""
from __future__ import annotations

import heapq
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import psycopg
import sqlalchemy as sa

from journal_api.bootstrap import Container
from journal_api.domain.events import Actor
from journal_api.service.deadlines import EmergencyOnlyPolicy

SYSTEM = Actor.system("bench")
TIMEZONES = ("Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk", "Asia/Novosibirsk",
             "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Vladivostok", "Europe/Kaliningrad", "Asia/Kamchatka")
CITIES = ("Москва", "Химки", "Екатеринбург", "Верхняя Пышма", "Новосибирск", "Бердск", "Казань", "Зеленодольск",
          "Самара", "Тольятти", "Пермь", "Краснокамск")
STREETS = ("ул. Ленина", "ул. Мира", "ул. Гагарина", "пр. Победы", "ул. Садовая", "ул. Школьная", "ул. Лесная",
           "ул. Молодёжная", "ул. Советская", "ул. Набережная", "ул. Центральная", "б-р Строителей")
COMPLEXES = ("ЖК Солнечный", "ЖК Северный", "ЖК Речной", "ЖК Парковый", "ЖК Зелёный квартал")
SURNAMES = ("Иванов", "Петров", "Сидоров", "Кузнецов", "Смирнов", "Попов", "Волков", "Соколов", "Лебедев",
            "Козлов", "Новиков", "Морозов", "Зайцев", "Павлов", "Семёнов", "Голубев", "Виноградов", "Богданов")
FIRST = (("Иван", "Петрович"), ("Сергей", "Иванович"), ("Алексей", "Викторович"), ("Дмитрий", "Олегович"),
         ("Николай", "Сергеевич"), ("Андрей", "Павлович"))
CALLERS = ("Анна Сергеевна", "Мария Ивановна", "Ольга Петровна", "Пётр Николаевич", "Елена", "Татьяна",
           "Виктор Степанович", "Галина Фёдоровна")

# work type -> (weight, probability of an emergency, problems)
WORK = {
    "water": (25, 0.12, ("Протечка с потолка", "Протечка под раковиной", "Нет горячей воды", "Нет холодной воды",
                         "Течёт смеситель", "Слабый напор воды", "Прорвало трубу")),
    "sewerage": (10, 0.10, ("Засор канализации", "Запах канализации в подъезде", "Течёт стояк канализации")),
    "heating": (15, 0.10, ("Холодные батареи", "Протечка радиатора отопления", "Шумит стояк отопления",
                           "Не греет полотенцесушитель")),
    "electricity": (12, 0.15, ("Нет света в квартире", "Искрит розетка", "Не горит свет в подъезде",
                               "Выбивает автомат")),
    "gas": (2, 0.60, ("Запах газа в подъезде", "Запах газа на кухне", "Не работает газовая плита")),
    "elevator": (10, 0.20, ("Лифт не работает", "Застряли в лифте", "Лифт не закрывает двери")),
    "roof": (4, 0.03, ("Протечка кровли над квартирой", "Сосульки на козырьке", "Сорвало лист кровли")),
    "rubbish_chute": (3, 0.03, ("Засор мусоропровода", "Запах из мусоропровода")),
    "building": (6, 0.03, ("Разбито окно в подъезде", "Не закрывается входная дверь", "Трещина в стене")),
    "intercom": (6, 0.03, ("Не работает домофон", "Не открывается дверь по ключу домофона")),
    "yard": (4, 0.03, ("Не убран снег во дворе", "Упало дерево во дворе", "Яма на въезде во двор")),
    "other": (3, 0.03, ("Прошу перезвонить", "Вопрос по начислениям", "Шум от соседей")),
}
PLACES = ("в ванной", "на кухне", "в туалете", "в подъезде", "на лестничной площадке", "в коридоре", "в комнате")
DETAILS = ("", "", "соседи сверху не открывают", "просьба прийти после 18:00", "в квартире пожилой человек",
           "повторная заявка", "уже третий день", "срочно")
OPEN_MIX = (("new", 15), ("assigned", 25), ("accepted", 40), ("postponed", 12), ("impossible", 8))
SHUT_MIX = (("closed", 90), ("cancelled", 6), ("done", 4))
CHANNEL_MIX = (("phone", 70), ("dispatcher", 15), ("sms", 10), ("api", 5))
COLUMNS = ("org_id", "number", "channel", "caller_phone", "caller_name", "building_id", "apartment", "entrance",
           "floor", "description", "work_type", "urgency", "status", "assignee_id", "answered_at", "registered_at",
           "updated_at", "closed_at", "done_at", "localisation_due_at", "repair_due_at", "due_at", "deadline_rule",
           "localisation_clause", "repair_clause", "postponed_until", "status_reason", "report", "version")


@dataclass
class Place:
    id: int
    code: str
    apartments: int
    entrances: int
    floors: int
    weight: float


@dataclass
class OrgFixture:
    id: int
    code: str
    buildings: list[Place] = field(default_factory=list)
    technicians: list[int] = field(default_factory=list)
    dispatcher_id: int = 0
    cities: list[int] = field(default_factory=list)
    complexes: list[int] = field(default_factory=list)
    manager_token: str = ""
    dispatcher_token: str = ""


def _phone(rng: random.Random) -> str:
    return f"+79{rng.choice(('12', '22', '03', '15', '26', '50', '85'))}{rng.randrange(10**7):07d}"


def create_registry(c: Container, orgs: int, buildings: int, technicians: int, rng: random.Random) -> list[OrgFixture]:
    """Organisations, buildings, staff and tokens, all through the service layer (audited like production)."""
    fixtures = []
    for n in range(1, orgs + 1):
        org = c.registry.create_organisation(f"bench{n:02d}", f"УК Бенч {n:02d}", TIMEZONES[n % len(TIMEZONES)])
        fx = OrgFixture(org.id, org.code)
        cities = rng.sample(CITIES, 2)
        for i in range(buildings):
            city = cities[0] if i < buildings * 0.7 else cities[1]
            complex_ = COMPLEXES[i % len(COMPLEXES)] if i % 6 else ""
            entrances, floors = rng.choice(((1, 5), (4, 9), (6, 9), (3, 12), (2, 17), (4, 25)))
            b = c.registry.upsert_building(org.id, SYSTEM, {
                "building_id": f"B-{i + 1:03d}", "city": city, "complex": complex_, "street": rng.choice(STREETS),
                "house": str(rng.randrange(1, 150)), "korpus": rng.choice((None, None, "1", "2")),
                "entrances": entrances, "floors": floors, "apartments": entrances * floors * 4})
            fx.buildings.append(Place(b.id, b.code, b.apartments, b.entrances, b.floors, rng.lognormvariate(0, 0.8)))
        staff = [("manager", 1), ("dispatcher", 3), ("technician", technicians)]
        k = 0
        for role, count in staff:
            for _ in range(count):
                k += 1
                first, middle = rng.choice(FIRST)
                s = c.registry.upsert_staff(org.id, SYSTEM, {
                    "full_name": f"{rng.choice(SURNAMES)} {first} {middle}", "role": role,
                    "phone": f"+7912{n:02d}{k:05d}", "sip_account": f"{role[:4]}{n}-{k}"})
                if role == "technician":
                    fx.technicians.append(s.id)
                elif role == "dispatcher" and not fx.dispatcher_id:
                    fx.dispatcher_id = s.id
        fx.cities = [city.id for city in c.registry.cities(org.id)]
        fx.complexes = [cx.id for cx in c.registry.complexes(org.id)]
        fx.manager_token = c.tokens.create(org.code, "manager", label="bench manager")
        fx.dispatcher_token = c.tokens.create(org.code, "dispatcher", fx.dispatcher_id)
        fixtures.append(fx)
    return fixtures


def load_registry(c: Container) -> list[OrgFixture]:
    """Rebuild the fixtures of a database filled by an earlier run (--reuse); tokens are created afresh."""
    fixtures = []
    with c.engine.connect() as conn:
        orgs = conn.execute(sa.text("SELECT id, code FROM organisations WHERE code LIKE 'bench%' ORDER BY id"))
        for org_id, code in list(orgs):
            fx = OrgFixture(org_id, code)
            for row in conn.execute(sa.text("SELECT id, code, apartments, entrances, floors FROM buildings "
                                            "WHERE org_id = :o ORDER BY id"), {"o": org_id}):
                fx.buildings.append(Place(*row, weight=1.0))
            staff = conn.execute(sa.text("SELECT id, role FROM staff WHERE org_id = :o ORDER BY id"), {"o": org_id})
            for staff_id, role in staff:
                if role == "technician":
                    fx.technicians.append(staff_id)
                elif role == "dispatcher" and not fx.dispatcher_id:
                    fx.dispatcher_id = staff_id
            fx.cities = [city.id for city in c.registry.cities(org_id)]
            fx.complexes = [cx.id for cx in c.registry.complexes(org_id)]
            fx.manager_token = c.tokens.create(code, "manager", label="bench manager")
            fx.dispatcher_token = c.tokens.create(code, "dispatcher", fx.dispatcher_id)
            fixtures.append(fx)
    return fixtures


def _mix(rng: random.Random, mix) -> str:
    return rng.choices([k for k, _ in mix], [w for _, w in mix])[0]


def describe(rng: random.Random, work_type: str) -> str:
    problem = rng.choice(WORK[work_type][2])
    detail = rng.choice(DETAILS)
    text = f"{problem} {rng.choice(PLACES)}" if work_type in ("water", "heating", "electricity", "sewerage") \
        else problem
    return f"{text}, {detail}" if detail else text


class RowMaker:
    """Makes one organisation's requests in registration order; each row matches COLUMNS."""

    POLICY = EmergencyOnlyPolicy()
    WORK_TYPES = list(WORK)
    WORK_WEIGHTS = [w for w, _, _ in WORK.values()]

    def __init__(self, fx: OrgFixture, count: int, now: datetime, days: int, seed: int):
        self.fx, self.now, self.rng = fx, now, random.Random(seed)
        span = days * 86400
        # Volume grows over the two years: more recent days have more requests.
        ages = sorted((span * (1 - self.rng.random() ** 0.8) for _ in range(count)), reverse=True)
        self.ages = ages
        self.weights = [p.weight for p in fx.buildings]

    def rows(self):
        for number, age in enumerate(self.ages, start=1):
            yield self.row(number, age)

    def row(self, number: int, age_s: float) -> tuple:
        rng, now, fx = self.rng, self.now, self.fx
        registered = now - timedelta(seconds=age_s)
        age_days = age_s / 86400
        work_type = rng.choices(self.WORK_TYPES, self.WORK_WEIGHTS)[0]
        urgency = "emergency" if rng.random() < WORK[work_type][1] else "normal"
        open_ = rng.random() < 0.9 * 2.718281828 ** (-age_days / 3) + 0.012
        status = _mix(rng, OPEN_MIX if open_ else SHUT_MIX)
        channel = _mix(rng, CHANNEL_MIX)
        place = rng.choices(fx.buildings, self.weights)[0] if rng.random() < 0.98 else None
        apartment = entrance = floor = None
        if place and work_type not in ("yard", "roof", "elevator") and rng.random() < 0.9:
            apartment = rng.randrange(1, place.apartments + 1)
            per_entrance = max(1, place.apartments // place.entrances)
            entrance = min(place.entrances, (apartment - 1) // per_entrance + 1)
            floor = min(place.floors, ((apartment - 1) % per_entrance) // 4 + 1)
        assignee = rng.choice(fx.technicians) if status != "new" and (status != "cancelled" or rng.random() < .5) \
            else None
        done_after = timedelta(hours=rng.uniform(0.5, 4) if urgency == "emergency" else rng.uniform(2, 96))
        closed = min(registered + done_after, now) if status in ("closed", "cancelled") else None
        d = self.POLICY.deadlines_for(SimpleNamespace(urgency=urgency, registered_at=registered), fx.id, now)
        waiting = status in ("new", "assigned")
        due = (d.localisation_due_at if waiting else None) or d.repair_due_at
        reason = rng.choice(("Нет доступа в квартиру", "Нужны запчасти", "Жилец просит перенести")) \
            if status in ("postponed", "impossible", "cancelled") else None
        postponed = now + timedelta(days=rng.uniform(1, 10)) if status == "postponed" else None
        report = rng.choice(("Работы выполнены", "Заменён участок трубы", "Устранено на месте")) \
            if status in ("done", "closed") else None
        phone = _phone(rng) if channel in ("phone", "sms") or rng.random() < 0.5 else None
        answered = registered - timedelta(seconds=rng.uniform(20, 180)) if channel == "phone" else None
        updated = registered if status == "new" else (closed or min(registered + done_after / 2, now))
        done = (closed or updated) if status in ("done", "closed") else None  # the resolution time the figures use
        return (fx.id, number, channel, phone, rng.choice(CALLERS) if rng.random() < 0.5 else None,
                place.id if place else None, apartment, entrance, floor, describe(rng, work_type), work_type,
                urgency, status, assignee, answered, registered, updated, closed, done, d.localisation_due_at,
                d.repair_due_at, due, d.rule, d.localisation_clause, d.repair_clause, postponed, reason, report,
                1 if status == "new" else rng.randrange(3, 7))


def _secondary_indexes(cur) -> list[tuple[str, str]]:
    """The request table's indexes other than its key and unique constraint, as the migrations made them."""
    cur.execute("SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'requests' AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) ORDER BY i.indexname")
    return list(cur.fetchall())


def copy_requests(dsn: str, fixtures: list[OrgFixture], total: int, now: datetime, days: int, seed: int,
                  log=print) -> dict:
    """COPY the requests in global registration order (as production writes them), indexes built afterwards."""
    started = time.perf_counter()
    per_org = [total // len(fixtures) + (1 if i < total % len(fixtures) else 0) for i in range(len(fixtures))]
    makers = [RowMaker(fx, n, now, days, seed * 1000 + i) for i, (fx, n) in enumerate(zip(fixtures, per_org))]
    streams = [((row[15], row) for row in m.rows()) for m in makers]
    with psycopg.connect(dsn, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # our rows are consistent; skip per-row FK triggers
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute("SET synchronous_commit = off")
        indexes = _secondary_indexes(cur)
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        written = 0
        with cur.copy(f"COPY requests ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for _, row in heapq.merge(*streams, key=lambda item: item[0]):
                copy.write_row(row)
                written += 1
                if written % 200_000 == 0:
                    log(f"  copied {written:,} requests ({time.perf_counter() - started:.0f} s)")
        copied = time.perf_counter()
        log(f"  copied {written:,} requests in {copied - started:.1f} s; building {len(indexes)} indexes")
        for name, definition in indexes:
            cur.execute(definition)
        for fx, n in zip(fixtures, per_org):
            cur.execute("UPDATE counters SET value = %s WHERE org_id = %s AND name = 'request'", (n, fx.id))
        conn.commit()
        indexed = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) requests")
        conn.execute("ANALYZE")
    done = time.perf_counter()
    log(f"  indexes {indexed - copied:.1f} s, vacuum+analyze {done - indexed:.1f} s")
    return {"rows": written, "copy_s": round(copied - started, 1), "index_s": round(indexed - copied, 1),
            "vacuum_analyze_s": round(done - indexed, 1), "indexes_rebuilt": [n for n, _ in indexes]}


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
