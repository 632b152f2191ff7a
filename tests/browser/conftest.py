"""Playwright driving Debian's Chromium (/usr/bin/chromium; `playwright install` is never used).
A failed test leaves a screenshot in test-artifacts/."""

import os
import re
import threading
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium); .ci/run does.")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def in_own_thread(function):
    """Run database code outside Playwright's thread: that one has an event loop running (Django
    refuses the ORM there) and its connections would outlive the test."""
    from django.db import connection

    result, errors = [], []

    def run():
        try:
            result.append(function())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if errors:
        raise errors[0]
    return result[0]


@pytest.fixture
def page(request, transactional_db, browser, live_server):
    # transactional_db first: the session's test database is then torn down after the live
    # server, whose thread holds a connection to it until it stops.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        failed = any(getattr(request.node, f"report_{when}", None) and getattr(request.node, f"report_{when}").failed
                     for when in ("setup", "call"))
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.html").write_text(page.content())
        context.close()


@pytest.fixture
def caption_worker(transactional_db, tiny_model):
    """A real worker in a thread: the worker service's claim/caption/record cycle, polling the
    live server's database the way a qcluster woken by the broker would."""
    from django.db import connection

    from captions import services

    stop = threading.Event()
    errors: list[BaseException] = []

    def work():
        try:
            while not stop.is_set():
                services.caption_pending_run()
                stop.wait(0.3)
        except BaseException as error:  # surfaced by the fixture below
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=work, name="caption-worker", daemon=True)
    thread.start()
    yield thread
    stop.set()
    thread.join(timeout=30)
    assert not errors, f"the worker thread failed: {errors[0]!r}"
