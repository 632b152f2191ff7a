"""Smaller flows in the browser: revoking an API key asks first (dismissed: the key stays;
accepted: it is revoked); the gallery's progress line says how many were captioned and how many
failed."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import in_own_thread, make_user, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_revoking_an_api_key_asks_first(page, live_server):
    from accounts.models import ApiKey
    from accounts.services import api_key_create

    owner = make_user()
    in_own_thread(lambda: api_key_create(owner=owner, name="laptop script"))
    sign_in(page, live_server.url, owner)
    page.goto("/accounts/api-keys/")
    asked = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.get_by_role("button", name="Revoke laptop script").click()
    page.wait_for_timeout(500)
    assert asked and "Revoke the key laptop script?" in asked[0] and "cannot be undone" in asked[0]
    assert in_own_thread(lambda: ApiKey.objects.get().revoked_at) is None

    page.once("dialog", lambda dialog: answer(dialog, True))
    page.get_by_role("button", name="Revoke laptop script").click()
    expect(page.locator("td[data-label=State]")).to_contain_text("revoked")
    assert in_own_thread(lambda: ApiKey.objects.get().revoked_at) is not None
