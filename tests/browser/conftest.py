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


def _missing_browser_parts() -> list[str]:
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if not (REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js").exists():
        missing.append("node_modules/axe-core (npm ci)")
    return missing


def pytest_collection_modifyitems(config, items):
    """Without Chromium or axe-core the browser tests are skipped with one line that says what to
    install; under CI (CI=true) they fail instead, so a green CI never hides them."""
    missing = _missing_browser_parts()
    if not missing or os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        return
    skip = pytest.mark.skip(reason=f"browser tests need {' and '.join(missing)}")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


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

    from captions.services.worker import caption_pending_run
    from monitoring.services import worker_heartbeat_record

    stop = threading.Event()
    errors: list[BaseException] = []

    def work():
        try:
            while not stop.is_set():
                worker_heartbeat_record(check_model=False, worker_id="browser-test-worker")
                caption_pending_run()
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


# --- Accessibility and layout checks ------------------------------------------------------

AXE_JS = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
WIDTHS = (320, 390, 1280)  # 320 CSS px is what 400% zoom of 1280 gives (WCAG 1.4.10 Reflow)
SCREENSHOTS = ARTIFACTS / "screenshots"


def _axe_source() -> str:
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run `npm ci` (or `npm install`) in the repository; .ci/run does.")
    return AXE_JS.read_text()


def axe_violations(page) -> list[dict]:
    """axe-core's violations of the WCAG 2.0/2.1/2.2 A and AA rules on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    return page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + n.failureSummary)})))",
        AXE_TAGS,
    )


def check_page(page, name: str) -> None:
    """At 320, 390 and 1280 px wide: a screenshot in test-artifacts/screenshots/NAME-WIDTH.png, no
    sideways scrolling, and no axe-core violation. The viewport is left at 1280 px."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)  # one layout pass
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        scroll_width, view_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll_width > view_width:
            wide = page.evaluate(
                "w => Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > w)"
                ".slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className)", view_width
            )
            problems.append(f"{name} at {width} px scrolls sideways: {scroll_width} px wide; {wide}")
        for violation in axe_violations(page):
            problems.append(f"{name} at {width} px: {violation['id']} ({violation['impact']}): {violation['help']}\n    "
                            + "\n    ".join(violation["nodes"]))
    page.set_viewport_size({"width": 1280, "height": 900})
    assert not problems, "\n".join(problems)


def make_user(email: str = "ada@example.com", perms=(), **extra):
    """A user with no usable password (the browser signs in with sign_in), saved from a thread
    of its own (the live server's database access rules); `perms`: "app.codename" permissions."""
    from django.contrib.auth.models import Permission

    from accounts.models import User

    def make():
        user = User(email=email, **extra)
        user.set_unusable_password()
        user.save()
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return user

    return in_own_thread(make)


def sign_in(page, base_url: str, user) -> None:
    """Give the browser a session of `user` (the login form has its own test)."""
    from django.test import Client

    def session_cookie():
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    page.context.add_cookies([{"name": "sessionid", "value": in_own_thread(session_cookie), "url": base_url}])


def tab_to(page, selector: str, *, limit: int = 60, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the focused element matches the CSS selector, as a keyboard
    user would; fails after `limit` presses."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
    focused = page.evaluate("document.activeElement && document.activeElement.outerHTML.slice(0, 200)")
    raise AssertionError(f"{limit} presses of {key} never reached {selector}; focus is on {focused}")


def assert_focus_visible(page, stops: int = 40) -> int:
    """Tab through up to `stops` controls from the top of the page; each focused one must show a
    focus indicator (an outline or a box shadow). Returns how many stops were checked."""
    page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    unseen, seen = [], []
    for _ in range(stops):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => {
            const e = document.activeElement;
            if (!e || e === document.body) return null;
            if (e.dataset.focusSeen) return e === window.__lastFocusStop ? {again: true} : null;
            window.__lastFocusStop = e;
            e.dataset.focusSeen = '1';
            const s = getComputedStyle(e);
            const shown = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || (s.boxShadow && s.boxShadow !== 'none');
            return {key: e.outerHTML.slice(0, 120), shown};
        }""")
        if info is None:  # back at the start
            break
        if info.get("again"):  # a date input's day/month/year fields: one element, several stops
            continue
        seen.append(info["key"])
        if not info["shown"]:
            unseen.append(info["key"])
    assert not unseen, f"no visible focus on: {unseen}"
    return len(seen)


STRICT_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'"


def enforce_strict_csp(page) -> list[str]:
    """Serve every page of the site with a strict Content-Security-Policy (no inline script, no
    inline style, no eval) and collect the violations the browser reports; the caller asserts the
    list is empty at the end. (The site does not send this header itself yet.)"""
    violations: list[str] = []

    def add_header(route):
        response = route.fetch(max_redirects=0)  # the browser follows redirects itself (post/redirect/get)
        headers = {**response.headers}
        if "text/html" in headers.get("content-type", ""):
            headers["content-security-policy"] = STRICT_CSP
        route.fulfill(response=response, headers=headers)

    page.route("**/*", add_header)
    page.on("console", lambda message: violations.append(f"{page.url}: {message.text} at {message.location}")
            if "Content Security Policy" in message.text else None)
    return violations
