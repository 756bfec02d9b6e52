"""`curate review` in a real headless Chromium (Selenium): keyboard decisions, undo, reload.

The page and reviews.jsonl must agree after a reload; the catalog holds the decisions.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from curate.review.apply import active_decisions, decided_state
from curate.review.journal import read_decisions
from curate.workspace import Workspace, read_catalog
from tests.browser import chromium_driver  # noqa: F401  (provides the `driver` fixture)
from tests.test_review import demo_ws, serve  # noqa: F401  (demo_ws is a fixture)


@pytest.fixture()
def review_url(demo_ws, tmp_path):  # noqa: F811
    from curate.review.app import create_app
    from curate.review.session import ReviewSession

    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    session = ReviewSession(Workspace(root), user="tester")
    server, thread, url = serve(create_app(session))
    yield session, url
    server.should_exit = True
    thread.join(10)
    session.close()


def press(driver, keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(keys).perform()


def card_state(driver, index: int) -> dict:
    return driver.execute_script(
        "const c = document.getElementById('card-' + arguments[0]); const s = c.querySelector('.state');"
        "return {id: c.dataset.photoId, suggested: c.dataset.suggested, status: s.dataset.status,"
        " label: s.dataset.label, review: s.dataset.review};", index)


def wait_for(condition, what: str, timeout_s: float = 20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def page_states(driver) -> dict[str, dict]:
    return {s["id"]: s for s in (card_state(driver, i) for i in
            range(driver.execute_script("return document.querySelectorAll('.card').length")))}


def test_keyboard_review_reload_agrees_with_reviews_jsonl(driver, review_url):
    session, url = review_url
    driver.get(f"{url}/?queue=label_issues")
    issue = card_state(driver, 0)
    loaded = "const i = document.querySelector('#card-0 img.thumb'); return i.complete && i.naturalWidth;"
    assert wait_for(lambda: driver.execute_script(loaded), "the first thumbnail") > 0
    assert issue["suggested"] and issue["suggested"] != issue["label"]
    press(driver, "s")  # the suggested label, one key away
    wait_for(lambda: card_state(driver, 0)["review"] == "kept", "the relabel")
    assert card_state(driver, 0)["label"] == issue["suggested"]
    typed = card_state(driver, 1)  # the focus moved on: type a label there
    press(driver, "l")
    driver.find_element("id", "label-input").send_keys("typed-label\n")
    wait_for(lambda: card_state(driver, 1)["label"] == "typed-label", "the typed relabel")

    driver.get(f"{url}/?queue=recovered")
    recovered = card_state(driver, 0)
    assert recovered["status"] == "kept"
    press(driver, "d")  # drop; the next card gets the focus
    wait_for(lambda: card_state(driver, 0)["status"] == "dropped", "the drop")
    second = card_state(driver, 1)
    press(driver, "k")
    wait_for(lambda: card_state(driver, 1)["review"] == "kept", "the keep")
    press(driver, "u")  # undo the keep
    wait_for(lambda: card_state(driver, 1)["review"] == "", "the undo")
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []

    decisions = read_decisions(session.ws)
    assert [d["action"] for d in decisions] == ["relabel", "relabel", "drop", "keep", "undo"]
    wanted = decided_state(decisions)
    assert set(wanted.index) == {issue["id"], typed["id"], recovered["id"]}
    assert (wanted.loc[issue["id"], "label"], wanted.loc[typed["id"], "label"]) == (issue["suggested"], "typed-label")
    assert wanted.loc[recovered["id"], "status"] == "dropped"
    assert [d["photo_id"] for d in active_decisions(decisions)] == [issue["id"], typed["id"], recovered["id"]]

    driver.refresh()  # the recovered queue again, from the server's state
    shown = page_states(driver)
    assert (shown[recovered["id"]]["status"], shown[recovered["id"]]["review"]) == ("dropped", "dropped")
    assert shown[second["id"]]["review"] == "" and shown[second["id"]]["status"] == second["status"]
    driver.get(f"{url}/?queue=label_issues")
    shown = page_states(driver)
    assert (shown[issue["id"]]["label"], shown[issue["id"]]["review"]) == (issue["suggested"], "kept")
    assert shown[typed["id"]]["label"] == "typed-label"

    assert session.flush()
    catalog = read_catalog(session.ws).set_index("photo_id")
    assert catalog.loc[issue["id"], "label"] == issue["suggested"]
    assert catalog.loc[recovered["id"], "status"] == "dropped"
    assert json.loads(session.ws.root.joinpath("reviews.jsonl").read_text().splitlines()[0])["who"] == "tester"
