"""What people read in the console lives in templates and in journal_api/catalogue/console_ru.json, not in the
code: no Russian letter in a string literal of the console's Python modules (docstrings and comments are for
developers) nor in the code of its JavaScript (whose texts come from the page's data-* attributes), and every
catalogue text the console's code asks for by a literal section and key is in a catalogue (``clabel`` would
otherwise show the key itself)."""
from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from datetime import timedelta
from pathlib import Path

import pytest
from console_support import SYSTEM, sign_in_page

import journal_api.console as console_package
from journal_api.catalogue import catalogue

CONSOLE = Path(console_package.__file__).parent
RUSSIAN = re.compile("[А-Яа-яЁё]")

# Literals left in the code on purpose, as (file, literal). Each is not a text anyone reads.
ALLOWED_PY = {
    # ru_error tells whether a service's message is already Russian by its letters: a test, not a text.
    ("__init__.py", '"а"'),
    ("__init__.py", '"я"'),
    ("__init__.py", '"ёЁ"'),
}
# JavaScript lines left on purpose, as (file, stripped line). None today.
ALLOWED_JS: set[tuple[str, str]] = set()

_STRING_TOKENS = {tokenize.STRING} | {getattr(tokenize, name) for name in ("FSTRING_MIDDLE",)
                                      if hasattr(tokenize, name)}  # Python 3.12 splits f-strings
_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
_SKIPPED = {tokenize.NL, tokenize.COMMENT}


def _python_literals(path: Path) -> list[tuple[int, str]]:
    """(line, literal) of every string literal that is not a docstring (a string standing alone as a statement)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))
    found = []
    for i, tok in enumerate(tokens):
        if tok.type not in _STRING_TOKENS:
            continue
        before = next((t for t in reversed(tokens[:i]) if t.type not in _SKIPPED), None)
        after = next((t for t in tokens[i + 1:] if t.type not in _SKIPPED), None)
        alone = (before is None or before.type in _STATEMENT_START) and \
            (after is None or after.type in (tokenize.NEWLINE, tokenize.ENDMARKER))
        if not alone:
            found.append((tok.start[0], tok.string))
    return found


def _javascript_code(text: str) -> list[tuple[int, str, str]]:
    """(line, the line, its code without /* */ and // comments) of a script."""
    lines, inside = [], False
    for number, line in enumerate(text.splitlines(), 1):
        code, rest = "", line
        while rest:
            if inside:
                end = rest.find("*/")
                if end < 0:
                    rest = ""
                else:
                    inside, rest = False, rest[end + 2:]
                continue
            start = rest.find("/*")
            if start < 0:
                code += rest
                break
            code, rest, inside = code + rest[:start], rest[start + 2:], True
        code = re.sub(r"(^|\s)//.*$", "", code)  # a line comment (not the // of a URL inside a string)
        lines.append((number, line.strip(), code))
    return lines


def test_the_console_python_code_has_no_russian_text_outside_docstrings_and_comments():
    offenders = [f"{path.name}:{line}: {literal}"
                 for path in sorted(CONSOLE.glob("*.py"))
                 for line, literal in _python_literals(path)
                 if RUSSIAN.search(literal) and (path.name, literal) not in ALLOWED_PY]
    assert not offenders, "Russian texts in the code (move them to catalogue/console_ru.json):\n" + \
        "\n".join(offenders)


def test_the_console_javascript_has_no_russian_text_outside_comments():
    scripts = sorted(p for p in (CONSOLE / "static").glob("*.js"))
    assert scripts, "the console's scripts were not found"
    offenders = [f"{path.name}:{number}: {line}"
                 for path in scripts
                 for number, line, code in _javascript_code(path.read_text(encoding="utf-8"))
                 if RUSSIAN.search(code) and (path.name, line) not in ALLOWED_JS]
    assert not offenders, "Russian texts in the scripts (give them to the page as data-* attributes):\n" + \
        "\n".join(offenders)


def test_the_checks_see_a_russian_literal_and_skip_docstrings_and_comments(tmp_path):
    module = tmp_path / "sample.py"
    module.write_text('"""Модуль."""\n# комментарий\nA = "текст"\nB = f"{A} ещё"\n\n\ndef f():\n'
                      '    """Функция."""\n    return "english"\n', encoding="utf-8")
    russian = [literal for _, literal in _python_literals(module) if RUSSIAN.search(literal)]
    assert len(russian) == 2 and '"текст"' in russian and any("ещё" in x for x in russian)
    code = [c for _, _, c in _javascript_code('/* комментарий\n   ещё */\nvar a = "текст"; // пояснение\n'
                                               'var u = "http://x"; /* и */ var b = 1;\n')]
    assert [bool(RUSSIAN.search(c)) for c in code] == [False, False, True, False]


def _literal_lookups() -> set[tuple[str, str, str]]:
    """(file, section, key) of every clabel("section", "key") in the console's code whose key is a literal (or a
    choice of two literals). Keys taken from a variable (the export's columns, the sorts) are not followed: the
    pages' and exports' tests read those texts."""
    found = set()
    for path in CONSOLE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "clabel" and len(node.args) == 2:
                section, key = node.args
                if isinstance(section, ast.Constant) and isinstance(key, ast.Constant):
                    found.add((path.name, section.value, key.value))
                elif isinstance(section, ast.Constant) and isinstance(key, ast.IfExp):
                    for branch in (key.body, key.orelse):
                        if isinstance(branch, ast.Constant):
                            found.add((path.name, section.value, branch.value))
    return found


def test_every_catalogue_text_the_console_code_names_exists():
    console_texts = json.loads((CONSOLE.parent / "catalogue" / "console_ru.json").read_text(encoding="utf-8"))
    main = catalogue("ru")
    lookups = _literal_lookups()
    assert len(lookups) > 40, lookups  # the walk finds the calls
    missing = sorted(f"{name}: {section}.{key}" for name, section, key in lookups
                     if key not in console_texts.get(section, {}) and key not in main.get(section, {}))
    assert not missing, "texts asked for but not in a catalogue:\n" + "\n".join(missing)


@pytest.mark.e2e
def test_the_countdown_words_come_from_the_page_and_read_as_the_servers(browser, server, container, org, technician,
                                                                        make_request):
    r = make_request(description="Нет воды на кухне")
    container.requests.assign(org.id, r.number, SYSTEM, "system", technician.id)
    path = container.links.issue(org.id, r.id, audience="technician", subject_id=technician.id,
                                 ttl=timedelta(days=1))
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU")
    page = context.new_page()
    page.clock.install()
    page.goto(server + path)
    page.evaluate("""() => {
        const at = (seconds) => new Date(Date.now() + seconds * 1000).toISOString();
        for (const [id, due] of [["late", at(-(26 * 3600 + 5 * 60))], ["left", at(2 * 3600 + 5 * 60 + 45)]]) {
            const b = document.createElement("b"); b.className = "countdown"; b.id = id; b.dataset.due = due;
            document.body.appendChild(b);
        }
    }""")
    page.clock.run_for(31_000)  # the next tick of console.js
    assert page.inner_text("#late") == "просрочено на 1 д 2 ч"
    assert page.inner_text("#left") == "осталось 2 ч 05 мин"
    assert page.evaluate("document.getElementById('late').classList.contains('late')")
    context.close()


@pytest.mark.e2e
def test_the_analytics_charts_name_their_datasets_in_russian(browser, server, manager, make_request):
    make_request(description="Течёт труба под раковиной")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ru-RU")
    page = context.new_page()
    sign_in_page(page, server, "orlov")
    page.goto(server + "/analytics")
    names = dict(page.evaluate(
        "Object.values(Chart.instances).map(c => [c.canvas.id, c.data.datasets.map(d => d.label || null)])"))
    assert names == {"chart-day": ["Заявок"], "chart-hour": ["Заявок"], "chart-channel": [None],
                     "chart-load": ["Всего", "С нарушением срока"]}
    context.close()
