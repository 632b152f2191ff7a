"""Each test is named for a class of security failure and tries the examples of it through the
site's public interfaces (HTTP, management commands, settings loaded in a fresh process)."""

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from accounts.services import api_key_create

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long and unusual passphrase 42"


@pytest.fixture
def fast_hash(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ada(db, fast_hash) -> User:
    return User.objects.create_user(email="ada@example.com", password=PASSWORD)


def obtain(client, email="ada@example.com", password=PASSWORD, address="198.51.100.7"):
    return client.post(reverse("api:token-obtain"), {"email": email, "password": password}, format="json",
                       REMOTE_ADDR=address)


# --- Account takeover of system accounts and reserved addresses ----------------------------------


@pytest.mark.django_db
def test_system_account_takeover_the_demo_owner_exists_closed_from_migrate(client, fast_hash):
    owner = User.objects.get(email=django_settings.DEMO_USER_EMAIL)
    assert not owner.is_active and not owner.has_usable_password() and not owner.is_staff
    response = client.post(reverse("accounts:signup"), {"email": django_settings.DEMO_USER_EMAIL.upper(),
                                                         "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 400 and "belongs to the site itself" in response.content.decode()
    owner.refresh_from_db()
    assert not owner.is_active and not owner.has_usable_password()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["someone@captionsite.invalid", "x@site.example", "me@box.test",
                                   "root@localhost", "a@printer.local"])
def test_reserved_address_sign_up_is_refused(client, fast_hash, email):
    response = client.post(reverse("accounts:signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 400 and "reserved" in response.content.decode()
    assert not User.objects.filter(email=email).exists()


@pytest.mark.django_db
def test_system_account_reopened_is_closed_again_by_the_demo(fast_hash):
    from captions.services.demo import demo_owner_get

    owner = User.objects.get(email=django_settings.DEMO_USER_EMAIL)
    owner.is_active = True
    owner.set_password(PASSWORD)
    owner.save()
    assert demo_owner_get().pk == owner.pk
    owner.refresh_from_db()
    assert not owner.is_active and not owner.has_usable_password()


# --- Credentials that outlive the password or the account -------------------------------------------


@pytest.mark.django_db
def test_credentials_outliving_a_password_change_are_revoked(client, ada):
    api = APIClient()
    pair = obtain(api).json()
    _, key = api_key_create(owner=ada, name="script")
    client.force_login(ada)
    new = "a different long passphrase 43"
    response = client.post(reverse("accounts:password_change"),
                           {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    assert response.status_code == 302
    refreshed = api.post(reverse("api:token-refresh"), {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 401
    keyed = APIClient(HTTP_AUTHORIZATION=f"Api-Key {key}").get("/api/v1/api-keys/")
    assert keyed.status_code == 401 and "revoked" in keyed.json()["detail"]
    # The new password gets new credentials that work.
    assert obtain(api, password=new).status_code == 200


@pytest.mark.django_db
def test_credentials_outliving_a_password_reset_are_revoked(client, ada):
    import re

    api = APIClient()
    pair = obtain(api).json()
    api_key_create(owner=ada, name="script")
    client.post(reverse("accounts:password_reset"), {"email": "ada@example.com"})
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mail.outbox[-1].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    new = "a different long passphrase 44"
    assert client.post(form_url, {"new_password1": new, "new_password2": new}).status_code == 302
    assert api.post(reverse("api:token-refresh"), {"refresh": pair["refresh"]}, format="json").status_code == 401
    assert not ApiKey.objects.filter(owner=ada, revoked_at__isnull=True).exists()


@pytest.mark.django_db
def test_credentials_of_a_deleted_account_are_a_401_not_a_500(client, ada):
    api = APIClient()
    pair = obtain(api).json()
    client.force_login(ada)
    assert client.post(reverse("accounts:delete"), {"password": PASSWORD}).status_code == 302
    refreshed = api.post(reverse("api:token-refresh"), {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 401 and refreshed.json()["code"]
    me = APIClient(HTTP_AUTHORIZATION=f"Bearer {pair['access']}").get("/api/v1/api-keys/")
    assert me.status_code == 401


@pytest.mark.django_db
def test_credentials_of_a_deleted_account_without_revocation_are_a_401_not_a_500(ada):
    """The token of an account removed another way (the admin, the shell) is still a 401."""
    api = APIClient()
    pair = obtain(api).json()
    User.objects.filter(pk=ada.pk).delete()
    refreshed = api.post(reverse("api:token-refresh"), {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 401


# --- Weak passwords ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["8chars!x", "elevenchars", "password1234", "123456789012"])
def test_weak_password_is_refused_at_sign_up(client, fast_hash, password):
    response = client.post(reverse("accounts:signup"),
                           {"email": "new@example.com", "password1": password, "password2": password})
    assert response.status_code == 400
    assert not User.objects.filter(email="new@example.com").exists()


# --- Unthrottled account endpoints --------------------------------------------------------------------


@pytest.mark.django_db
def test_unthrottled_password_reset_mail_bombing_is_limited(client, ada, settings):
    settings.ACCOUNT_RATE_PASSWORD_RESET = "3/h"
    statuses = [client.post(reverse("accounts:password_reset"), {"email": "ada@example.com"},
                            REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(10)]
    assert statuses == [302] * 10  # the same answer every time: no account revealed
    assert len(mail.outbox) == 3
    # One address asking for many accounts is refused with a 429.
    answers = [client.post(reverse("accounts:password_reset"), {"email": f"x{n}@example.com"},
                           REMOTE_ADDR="203.0.113.50") for n in range(5)]
    assert [a.status_code for a in answers] == [302, 302, 302, 429, 429]
    assert int(answers[-1]["Retry-After"]) > 0 and "Too many reset requests" in answers[-1].content.decode()


@pytest.mark.django_db
def test_unthrottled_sign_up_is_limited_per_address(client, fast_hash, settings):
    settings.ACCOUNT_RATE_SIGNUP = "3/h"
    statuses = []
    for n in range(5):
        client.logout()
        statuses.append(client.post(reverse("accounts:signup"), {
            "email": f"new{n}@example.com", "password1": PASSWORD, "password2": PASSWORD},
            REMOTE_ADDR="203.0.113.60").status_code)
    assert statuses == [302, 302, 302, 429, 429]
    assert User.objects.filter(email__startswith="new").count() == 3


# --- Deeply nested JSON -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [40, 1000, 100_000])
def test_deeply_nested_json_is_a_400_not_a_500(depth, ada):
    body = "[" * depth + "]" * depth
    for url in (reverse("api:token-obtain"), reverse("api:token-refresh")):
        response = APIClient().post(url, body, content_type="application/json")
        assert response.status_code == 400, (url, response.status_code)
        assert "nested deeper than" in response.json()["detail"]
    nested = {"email": "ada@example.com", "password": PASSWORD, "x": json.loads("[" * 30 + "]" * 30)}
    assert APIClient().post(reverse("api:token-obtain"), nested, format="json").status_code != 500


# --- CSV formula injection ------------------------------------------------------------------------------


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


@pytest.mark.django_db
def test_csv_formula_injection_every_writer_escapes(ada, tmp_path, admin_client):
    from captions.models import Caption, Image
    from captions.services.submission import image_submit
    from feedback.models import Feedback
    from tests.images import image_bytes, upload

    image = image_submit(owner=ada, files=[upload("=HYPERLINK(1).jpg", image_bytes("JPEG"))]).accepted[0]
    Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE)
    caption = Caption.objects.create(image=image, text="-2+3", raw_text="-2+3", model_id="m")
    Feedback.objects.create(user=ada, caption=caption, rating=1, corrected_caption="=1+1")
    payloads = ("=1+1", "-2+3", "=HYPERLINK(1)")

    out = tmp_path / "set.csv"
    call_command("export_feedback", "--format", "csv", "--out", str(out))
    cells = _cells(out.read_text())
    assert "'=1+1" in cells and not any(c.startswith(payloads) for c in cells)

    response = admin_client.post(reverse("admin:feedback_feedback_changelist"), {
        "action": "export_csv", "_selected_action": [str(f.pk) for f in Feedback.objects.all()]})
    assert response.status_code == 200
    cells = _cells(b"".join(response.streaming_content).decode() if response.streaming else response.content.decode())
    assert "'=1+1" in cells and not any(c.startswith(payloads) for c in cells)


# --- Secrets and the database readable by other local accounts --------------------------------------


def test_world_readable_secrets_var_dir_secret_key_and_database_are_private(tmp_path):
    var = tmp_path / "var"
    env = {**os.environ, "VAR_DIR": str(var), "SECRET_KEY": "", "DATABASE_URL": "",
           "DJANGO_SETTINGS_MODULE": "captionsite.settings"}
    env.pop("SECRET_KEY")
    env.pop("DATABASE_URL")
    subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, check=True,
                   timeout=120)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(var) == 0o700
    assert mode(var / "secret_key") == 0o600 and len((var / "secret_key").read_text()) > 40
    assert mode(var / "captionsite.sqlite3") == 0o600
    # An existing install's files others could read are closed on the next start.
    (var / "secret_key").chmod(0o644)
    var.chmod(0o755)
    subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, check=True,
                   timeout=120)
    assert mode(var) == 0o700 and mode(var / "secret_key") == 0o600


# --- A client naming its own address through X-Forwarded-For -------------------------------------------


def test_spoofed_client_address_forwarded_allow_ips_is_never_a_wildcard(tmp_path):
    import re

    line = (ROOT / "render.yaml").read_text().split("FORWARDED_ALLOW_IPS", 1)[1].split("\n")[1]
    value = re.search(r'value:\s*"([^"]*)"', line).group(1)
    assert value and "*" not in value
    probe = "import runpy; c = runpy.run_path('gunicorn.conf.py'); print(c['forwarded_allow_ips'])"
    default = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"})
    assert default.returncode == 0 and default.stdout.strip().endswith("127.0.0.1")
    for value in ("*", "10.0.0.1, *"):
        refused = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                                 timeout=60, env={**os.environ, "FORWARDED_ALLOW_IPS": value})
        assert refused.returncode != 0 and "not '*'" in refused.stderr


# --- Text longer than its column ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("length", [301, 500])
def test_text_longer_than_its_column_model_spec_is_a_400_where_it_enters(ada, client, length):
    from rest_framework_simplejwt.tokens import AccessToken

    from captions.models import Image
    from tests.images import image_bytes, upload

    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(ada)}")
    spec = "ensemble:" + ",".join(["blip-base"] * 200)
    spec = spec[:length]
    for url in ("/api/v1/images/", "/api/v1/predict/", "/api/v1/batches/"):
        response = api.post(url, {"files": [upload("p.jpg", image_bytes("JPEG"))], "model": spec}, format="multipart")
        assert response.status_code == 400, (url, response.status_code)
        assert "model" in json.dumps(response.json())
    client.force_login(ada)
    response = client.post(reverse("captions:upload"), {"files": [upload("p.jpg", image_bytes("JPEG"))], "model": spec})
    assert response.status_code in (400, 200) and "at most 300 characters" in response.content.decode()
    assert not Image.objects.filter(owner=ada).exists()


# --- API keys beyond their purpose ------------------------------------------------------------------


def _key_client(key: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Api-Key {key}")


@pytest.mark.django_db
def test_key_privilege_escalation_scopes_limit_what_a_key_does(ada):
    from tests.images import image_bytes, upload

    _, reader = api_key_create(owner=ada, name="reader", scopes=["read"])
    _, writer = api_key_create(owner=ada, name="writer")  # read and write: the default
    assert _key_client(reader).get("/api/v1/images/").status_code == 200
    refused = _key_client(reader).post("/api/v1/images/", {"files": [upload("a.jpg", image_bytes("JPEG"))]},
                                       format="multipart")
    assert refused.status_code == 403 and "write scope" in refused.json()["detail"]
    assert _key_client(writer).post("/api/v1/images/", {"files": [upload("a.jpg", image_bytes("JPEG"))]},
                                    format="multipart").status_code in (201, 202)
    # Neither may list, make or revoke keys: that is the keys scope.
    for key in (reader, writer):
        assert _key_client(key).get("/api/v1/api-keys/").status_code == 403
        made = _key_client(key).post("/api/v1/api-keys/", {"name": "escape"}, format="json")
        assert made.status_code == 403 and "keys scope" in made.json()["detail"]
    assert ApiKey.objects.filter(owner=ada).count() == 2


@pytest.mark.django_db
def test_key_privilege_escalation_a_minted_key_never_outlives_or_outranks_its_maker(ada):
    from datetime import timedelta

    from django.utils import timezone

    maker, maker_key = api_key_create(owner=ada, name="maker", scopes=["read", "keys"],
                                      expires_at=timezone.now() + timedelta(days=3))
    broader = _key_client(maker_key).post("/api/v1/api-keys/", {"name": "more", "scopes": ["read", "write"]},
                                          format="json")
    assert broader.status_code == 400 and "own scopes" in json.dumps(broader.json())
    made = _key_client(maker_key).post("/api/v1/api-keys/", {"name": "child", "scopes": ["read"]}, format="json")
    assert made.status_code == 201 and made.json()["scopes"] == ["read"]
    child = ApiKey.objects.get(prefix=made.json()["prefix"])
    assert child.expires_at == maker.expires_at  # no later than its maker
    grandchild_made = _key_client(maker_key).post("/api/v1/api-keys/", {"name": "g", "scopes": ["keys"]},
                                                  format="json")
    assert grandchild_made.status_code == 201
    grandchild_key = grandchild_made.json()["key"]
    grandchild = ApiKey.objects.get(prefix=grandchild_made.json()["prefix"])
    assert _key_client(grandchild_key).post("/api/v1/api-keys/", {"name": "gg", "scopes": ["keys"]},
                                            format="json").status_code == 201
    # Revoking the maker revokes everything that came from it.
    assert _key_client(maker_key).delete(f"/api/v1/api-keys/{maker.prefix}/").status_code == 204
    assert not ApiKey.objects.filter(owner=ada, revoked_at__isnull=True).exists()
    assert _key_client(made.json()["key"]).get("/api/v1/images/").status_code == 401
    assert _key_client(grandchild_key).get("/api/v1/api-keys/").status_code == 401
    assert grandchild.pk


@pytest.mark.django_db
def test_key_scopes_are_chosen_on_the_api_keys_page(client, ada):
    client.force_login(ada)
    response = client.post(reverse("accounts:api_keys"), {"name": "ro", "scopes": ["read"]})
    assert response.status_code == 302
    assert ApiKey.objects.get(name="ro").scope_set == {"read"}
    assert client.post(reverse("accounts:api_keys"), {"name": "plain"}).status_code == 302
    assert ApiKey.objects.get(name="plain").scope_set == {"read", "write"}
    page = client.get(reverse("accounts:api_keys")).content.decode()
    assert "manage API keys" in page and ">read<" in page


# --- Staff status taken for permissions ----------------------------------------------------------------


@pytest.mark.django_db
def test_staff_without_permissions_reads_no_originals_switches_no_model_sees_no_metrics(client, make_user):
    from django.contrib.auth.models import Group

    from captions.services.submission import image_submit
    from feedback.models import REVIEWERS_GROUP
    from tests.images import image_bytes, upload

    owner = make_user("owner@example.com")
    image = image_submit(owner=owner, files=[upload("private.jpg", image_bytes("JPEG"))]).accepted[0]
    original = reverse("feedback:image_original", args=[image.public_id])
    bare_staff = make_user("staff@example.com", is_staff=True)
    client.force_login(bare_staff)
    assert client.get(original).status_code == 404
    assert client.get(reverse("feedback:models")).status_code == 403
    assert client.post(reverse("feedback:model_activate"), {"run": ""}).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.1").status_code == 403
    assert client.get(reverse("monitoring:dashboard")).status_code == 403
    # The reviewers group, or the explicit permission, opens the review of every image.
    reviewer = make_user("reviewer@example.com")
    reviewer.groups.add(Group.objects.get_or_create(name=REVIEWERS_GROUP)[0])
    client.force_login(reviewer)
    assert client.get(original).status_code == 200
    client.force_login(make_user("granted@example.com", perms=["feedback.review_all_images"]))
    assert client.get(original).status_code == 200
    client.force_login(make_user("ops@example.com", perms=["monitoring.view_operations"]))
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.1").status_code == 200


# --- Sign-ins the owner cannot see or end ---------------------------------------------------------------


@pytest.mark.django_db
def test_invisible_sign_ins_the_owner_sees_and_ends_sessions_and_tokens(ada):
    from django.test import Client

    laptop, phone = Client(HTTP_USER_AGENT="Laptop browser"), Client(HTTP_USER_AGENT="Phone browser")
    for browser in (laptop, phone):
        assert browser.post(reverse("accounts:login"), {"username": "ada@example.com", "password": PASSWORD},
                            REMOTE_ADDR="198.51.100.30").status_code == 302
    api = APIClient()
    pair = obtain(api).json()
    page = laptop.get(reverse("accounts:sign_ins")).content.decode()
    assert "Laptop browser" in page and "Phone browser" in page and "this browser" in page
    # End the phone's session from the laptop: the phone is signed out at its next request.
    from accounts.models import SignInSession

    phone_session = SignInSession.objects.get(user_agent="Phone browser")
    assert laptop.post(reverse("accounts:session_end", args=[phone_session.pk])).status_code == 302
    assert phone.get(reverse("accounts:sign_ins")).status_code == 302  # to the login page
    assert laptop.get(reverse("accounts:sign_ins")).status_code == 200
    # The API lists and revokes too (a JWT is the person; an API key needs the keys scope).
    bearer = APIClient(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    listed = bearer.get("/api/v1/auth/sign-ins/").json()
    assert len(listed["sessions"]) == 1 and len(listed["refresh_tokens"]) == 1
    token_id = listed["refresh_tokens"][0]["id"]
    assert bearer.delete(f"/api/v1/auth/sign-ins/tokens/{token_id}/").status_code == 204
    assert api.post(reverse("api:token-refresh"), {"refresh": pair["refresh"]}, format="json").status_code == 401
    # Nobody ends another person's sign-ins.
    other = User.objects.create_user(email="eve@example.com", password=PASSWORD)
    eve = Client()
    eve.force_login(other)
    laptop_session = SignInSession.objects.get(user_agent="Laptop browser")
    assert eve.post(reverse("accounts:session_end", args=[laptop_session.pk])).status_code == 404
    _, reader = api_key_create(owner=ada, name="r", scopes=["read", "write"])
    assert _key_client(reader).get("/api/v1/auth/sign-ins/").status_code == 403
    # "End every other sign-in" keeps this one.
    assert laptop.post(reverse("accounts:end_all_others")).status_code == 302
    assert laptop.get(reverse("accounts:sign_ins")).status_code == 200


# --- Unverified addresses ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_unverified_sign_up_the_account_waits_for_the_mailed_link(client, fast_hash, settings):
    import re

    settings.ACCOUNT_EMAIL_VERIFICATION = True
    response = client.post(reverse("accounts:signup"), {"email": "new@example.com", "password1": PASSWORD,
                                                         "password2": PASSWORD})
    assert response.status_code == 200 and "Check your e-mail" in response.content.decode()
    user = User.objects.get(email="new@example.com")
    assert not user.is_active and "_auth_user_id" not in client.session
    assert client.post(reverse("accounts:login"), {"username": "new@example.com", "password": PASSWORD}).status_code == 200
    assert "_auth_user_id" not in client.session
    link = re.search(r"http://testserver(/accounts/verify/\S+/)", mail.outbox[-1].body).group(1)
    assert client.get(link.replace("/verify/", "/verify/x")).status_code == 400
    assert client.get(link).status_code == 302
    user.refresh_from_db()
    assert user.is_active and client.session["_auth_user_id"] == str(user.pk)
    # A taken address gets the same page and no mail.
    client.logout()
    sent = len(mail.outbox)
    again = client.post(reverse("accounts:signup"), {"email": "new@example.com", "password1": PASSWORD,
                                                      "password2": PASSWORD})
    assert again.status_code == 200 and "Check your e-mail" in again.content.decode() and len(mail.outbox) == sent
