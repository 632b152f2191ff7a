"""The site's own Content-Security-Policy (django-csp) is on every response, and every page
loads under it without a single violation: no inline script or style, no eval, nothing from
another origin. The Swagger UI (/api/docs/) renders under it too."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import in_own_thread, sign_in
from tests.images import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REQUIRED = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
            "base-uri 'self'", "frame-ancestors 'none'", "form-action 'self'"]

# Reported by Chromium in the console, and by the page as securitypolicyviolation events.
LISTEN = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__csp.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber));
"""


def watch(page) -> list[str]:
    problems: list[str] = []
    page.add_init_script(LISTEN)
    page.on("console", lambda m: problems.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text else None)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: script error {error}"))
    return problems


def visit(page, path: str, problems: list[str]) -> None:
    response = page.goto(path)
    policy = response.headers.get("content-security-policy", "")
    missing = [directive for directive in REQUIRED if directive not in policy]
    assert not missing, f"{path}: the policy {policy!r} lacks {missing}"
    page.wait_for_load_state("load")
    page.wait_for_timeout(150)  # deferred scripts and their first fetches
    problems.extend(f"{path}: {v}" for v in page.evaluate("window.__csp || []"))


def make_staff():
    from captions.models import Caption, Image
    from captions.services.submission import image_submit
    from tests.images import upload

    def make():
        from accounts.models import User

        user = User(email="csp-staff@example.com", is_staff=True, is_superuser=True)
        user.set_unusable_password()
        user.save()
        images = image_submit(owner=user, files=[
            upload(f"p{i}.jpg", image_bytes("JPEG", size=(64, 48), color=(60 * i, 90, 120))) for i in range(2)
        ]).accepted
        caption = Caption.objects.create(image=images[0], text="a dog on grass", raw_text="a dog on grass",
                                         confidence=0.2, model_id="tiny/blip", needs_review=True,
                                         candidates=[{"text": "a dog on grass", "score": 0.2}])
        Image.objects.filter(pk=images[0].pk).update(status=Image.Status.DONE, current_caption=caption)
        return user, [str(image.public_id) for image in images], caption.pk

    return in_own_thread(make)


def test_every_page_loads_under_the_policy_without_a_violation(page, live_server):
    problems = watch(page)
    for path in ("/", "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/no/such/page/"):
        visit(page, path, problems)

    user, ids, caption_id = make_staff()
    sign_in(page, live_server.url, user)
    for path in ("/", f"/images/{ids[0]}/", f"/images/{ids[1]}/", "/review/", f"/review/captions/{caption_id}/feedback/",
                 "/review/models/", "/dashboard/", "/accounts/api-keys/", "/accounts/password/",
                 "/admin/", "/admin/accounts/user/", "/admin/accounts/user/add/"):
        visit(page, path, problems)
    # A form posted and followed through a redirect (form-action 'self').
    page.goto("/accounts/api-keys/")
    page.fill("input[name=name]", "csp test")
    page.locator("form:has(input[name=name]) [type=submit]").first.click()
    page.wait_for_load_state("load")
    problems.extend(page.evaluate("window.__csp || []"))
    assert not problems, "\n".join(problems)


def test_the_swagger_ui_renders_under_the_policy(page):
    problems = watch(page)
    visit(page, "/api/docs/", problems)
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("captionsite API", timeout=20_000)
    expect(page.locator(".opblock").first).to_be_visible()
    page.locator(".opblock-summary").first.click()  # expanding an operation renders more of the UI
    page.wait_for_timeout(300)
    problems.extend(page.evaluate("window.__csp || []"))
    assert not problems, "\n".join(problems)


def test_api_and_health_answers_carry_the_policy_too(client):
    for path in ("/health/live/", "/api/v1/schema/", "/api/v1/images/"):
        policy = client.get(path)["Content-Security-Policy"]
        assert all(directive in policy for directive in REQUIRED), (path, policy)
