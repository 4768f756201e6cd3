"""The task page in a real browser: headless Debian Chromium driven by Playwright does one task of
each kind (create, validate, label, tag, rate) with the keyboard shortcuts the page shows, against
a live service; the answers stored are the ones typed, an Arabic text reads right to left, and a
text that looks like HTML is shown as text."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import select
from tests.test_microtasks import KEY, serve_in_thread

from headstart.microtasks.engine import MicroTasks
from headstart.microtasks.project import from_dict
from headstart.microtasks.schema import Answer, Item

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (`make test` installs it as root)",
)
DESK = {
    "name": "desk",
    "languages": ["en", "ar"],
    "steps": {
        "write": {"kind": "create", "next": "check", "min_characters": 10},
        "check": {"kind": "validate", "votes": 1, "next": "sort"},
        "sort": {"kind": "label", "labels": ["greeting", "booking", "complaint"], "answers": 1},
        "names": {"kind": "tag", "tags": ["person", "place"], "answers": 1},
        "stars": {"kind": "rate", "low": 1, "high": 5, "answers": 1},
    },
}
ARABIC = "أود حجز طاولة لأربعة أشخاص مساء الجمعة"
NAMES = "Anna Berg flew to Oslo on Monday"
WRITTEN = "I would like to book a table for two tonight"


def select_text(page: Page, start: int, end: int) -> None:
    """Select characters start..end of the shown text, as a mouse drag would."""
    page.evaluate(
        """([start, end]) => {
            const node = document.getElementById("text").firstChild;
            const range = document.createRange();
            range.setStart(node, start);
            range.setEnd(node, end);
            window.getSelection().removeAllRanges();
            window.getSelection().addRange(range);
        }""",
        [start, end],
    )


def tag_names(page: Page) -> None:
    select_text(page, 0, 10)  # "Anna Berg " — the page drops the trailing space
    page.keyboard.press("1")
    select_text(page, NAMES.index("Oslo"), NAMES.index("Oslo") + 4)
    page.keyboard.press("2")
    assert page.inner_text("#spans").splitlines() == ["Anna Berg → person", "Oslo → place"]
    page.keyboard.press("Enter")


def label_arabic(page: Page) -> None:
    assert page.eval_on_selector("#text", "e => getComputedStyle(e).direction") == "rtl"
    page.keyboard.press("2")


def write(page: Page) -> None:
    page.fill("#written", WRITTEN)
    page.press("#written", "Control+Enter")


ACTIONS: dict[str, Callable[[Page], None]] = {
    "rate": lambda page: page.keyboard.press("4"),
    "tag": tag_names,
    "label": label_arabic,
    "create": write,
    "validate": lambda page: page.keyboard.press("a"),
}


def do_every_task(page: Page, base: str, token: str, annotator: str) -> list[str]:
    """Sign in through the operator's link and do tasks until none is left; the kinds done."""
    page.goto(f"{base}/work#project=desk&annotator={annotator}&languages=en,ar&token={token}")
    page.press("#annotator", "Enter")
    done, previous = [], ""
    while True:
        page.wait_for_function(
            "p => (document.getElementById('task').dataset.assignment || p) !== p", arg=previous
        )
        kind = page.get_attribute("#task", "data-kind")
        previous = page.get_attribute("#task", "data-assignment")
        if kind == "none":
            return done
        if kind == "rate":  # markup in a text is shown as text
            assert page.inner_text("#text") == "Great <b>service</b>, thanks"
        ACTIONS[kind](page)
        done.append(kind)


def test_a_person_does_each_kind_of_task_in_a_browser_with_the_keyboard(tmp_path: Path) -> None:
    tasks = MicroTasks(f"sqlite:///{tmp_path / 'tasks.db'}", KEY, seed=0)
    tasks.save_project(from_dict(DESK))
    prompt = {
        "text": "Write what a customer might say: booking",
        "language": "en",
        "data": {"intent": "booking"},
    }
    tasks.add_items("desk", "write", [prompt])
    tasks.add_items("desk", "sort", [{"text": ARABIC, "language": "ar"}])
    tasks.add_items("desk", "names", [{"text": NAMES, "language": "en"}])
    tasks.add_items("desk", "stars", [{"text": "Great <b>service</b>, thanks", "language": "en"}])
    token, admin = tasks.create_token("task-page", "app"), tasks.create_token("operator", "admin")
    with serve_in_thread(tasks) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page()
        first = do_every_task(page, base, token, "ana")
        assert page.inner_text("#message").startswith("No task for you now")
        second = do_every_task(browser.new_page(), base, token, "ben")  # nobody validates their own text
        check_project_page(browser.new_page(), base, admin, token)
        browser.close()
    assert sorted(first) == ["create", "label", "rate", "tag"] and second == ["validate"]

    with tasks.sessions() as session:
        stored = {
            step: value for step, value in session.execute(select(Item.step, Answer.value).join(Answer))
        }
        shown = session.scalar(select(Item.text).where(Item.step == "stars"))
    assert stored["stars"] == 4.0 and shown == "Great <b>service</b>, thanks"
    assert stored["names"] == [
        {"start": 0, "end": 9, "tag": "person"},
        {"start": NAMES.index("Oslo"), "end": NAMES.index("Oslo") + 4, "tag": "place"},
    ]
    assert stored["sort"] == "booking" and stored["write"] == {"text": WRITTEN}
    assert stored["check"]["accept"] is True


def check_project_page(page: Page, base: str, admin: str, app: str) -> None:
    """The project page, fetched with an admin token, renders its plots and its rules graph."""
    assert (
        httpx.get(f"{base}/projects/desk/page", headers={"Authorization": f"Bearer {app}"}).status_code == 403
    )
    reply = httpx.get(f"{base}/projects/desk/page", headers={"Authorization": f"Bearer {admin}"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    assert ARABIC not in reply.text and NAMES not in reply.text  # no item's text on the page
    page.set_content(reply.text)
    assert page.eval_on_selector_all("img", "images => images.map(i => i.naturalWidth > 0)") == [True] * 3
    steps = page.eval_on_selector_all("svg g.step", "groups => groups.map(g => g.dataset.step)")
    assert sorted(steps) == sorted(DESK["steps"])
    cells = page.eval_on_selector_all("table tr", "rows => rows.map(r => r.innerText)")
    assert any(cell.startswith("stars\trate\t0\t1\t0\t1") for cell in cells), cells
    shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("L")
    assert shot.getextrema()[0] < 100  # drawn: dark ink on the page, not a blank screen
