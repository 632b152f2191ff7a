from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import keys
from accounts.models import ApiKey, User

# --- Reserved addresses and the demo's system account -------------------------------------------

# Top-level domains that never receive mail (RFC 2606, RFC 6761): nobody can prove owning an
# address there, and the site's own system accounts live there.
RESERVED_EMAIL_TLDS = ("invalid", "example", "test", "localhost", "local")


def email_reserved_reason(email: str) -> str | None:
    """Why `email` cannot have an account a person signs up for (None: it can)."""
    email = (email or "").strip().lower()
    domain = email.rpartition("@")[2].rstrip(".")
    if email == settings.DEMO_USER_EMAIL.strip().lower():
        return "This address belongs to the site itself."
    if domain.rpartition(".")[2] in RESERVED_EMAIL_TLDS:
        return "This address cannot receive mail (its domain is reserved): use your own address."
    return None


def demo_owner_ensure() -> User:
    """The system account that owns anonymous demo uploads (DEMO_USER_EMAIL): created when the
    database is migrated, inactive, with no usable password, so nobody can sign in as it or claim
    its address first. A row that somehow became active or got a password is closed again."""
    email = settings.DEMO_USER_EMAIL.strip().lower()
    with transaction.atomic():
        owner, created = User.objects.get_or_create(email=email, defaults={"is_active": False})
        if created or owner.is_active or owner.has_usable_password() or owner.is_staff:
            owner.is_active = owner.is_staff = owner.is_superuser = False
            owner.set_unusable_password()
            owner.save(update_fields=["is_active", "is_staff", "is_superuser", "password"])
    return owner


@transaction.atomic
def user_create(*, email: str, password: str) -> User:
    return User.objects.create_user(email=email, password=password)


def user_signup(*, email: str, password: str, active: bool = True) -> User | None:
    """The new account for `email`, or None when the address already has one (nothing changes
    then: the caller answers exactly as for a new account, so sign-up reveals no addresses)."""
    reason = email_reserved_reason(email)
    if reason:
        raise ValidationError({"email": [reason]})
    if User.objects.filter(email__iexact=email).exists():
        return None
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password, is_active=active)
    except IntegrityError:  # the same address signed up a moment ago
        return None


# --- Credentials: revoked together ------------------------------------------------------------


def user_credentials_revoke(*, user: User) -> dict:
    """Revoke every refresh token and API key of `user` (a password change or reset, an account
    deletion): a stolen token or key stops working with the password it came with. Sessions need
    no step here: Django ends every other session when the password changes (the session's
    password hash no longer matches). Returns {"refresh_tokens": n, "api_keys": n} revoked."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    now = timezone.now()
    with transaction.atomic():
        tokens = list(OutstandingToken.objects.filter(user=user, expires_at__gt=now, blacklistedtoken__isnull=True))
        BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in tokens],
                                             ignore_conflicts=True)
        keys_revoked = ApiKey.objects.filter(owner=user, revoked_at__isnull=True).update(revoked_at=now)
    return {"refresh_tokens": len(tokens), "api_keys": keys_revoked}


# --- Sign-ins: browser sessions and refresh tokens -------------------------------------------------


def sign_in_session_record(*, user: User, session_key: str, ip_address: str, user_agent: str) -> None:
    """Remember a new browser session of `user` (called when it signs in)."""
    from accounts.models import SignInSession

    if session_key:
        SignInSession.objects.update_or_create(session_key=session_key, defaults={
            "user": user, "ip_address": (ip_address or "")[:45], "user_agent": (user_agent or "")[:300]})


def sign_in_session_end(*, user: User, session_id: int) -> bool:
    """End one of `user`'s browser sessions (signed out there at its next request). False: not theirs."""
    from django.contrib.sessions.models import Session

    from accounts.models import SignInSession

    record = SignInSession.objects.filter(user=user, pk=session_id).first()
    if record is None:
        return False
    Session.objects.filter(session_key=record.session_key).delete()
    record.delete()
    return True


def refresh_token_revoke(*, user: User, token_id: int) -> bool:
    """Blacklist one of `user`'s refresh tokens (an app signed in through the API). False: not theirs."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    token = OutstandingToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        return False
    BlacklistedToken.objects.get_or_create(token=token)
    return True


def user_email_verified(*, user: User) -> User:
    """The owner opened the link mailed to the address: the account works from now on."""
    if not user.is_active:
        User.objects.filter(pk=user.pk).update(is_active=True)
        user.is_active = True
    return user


# --- Deleting an account ------------------------------------------------------------------------

# What higher apps must remove before a user row goes (files on disk, rows their services own):
# each a function (*, user) -> None, registered from that app's AppConfig.ready() with
# user_delete_step_register. accounts cannot import the apps above it, so they come to it.
_USER_DELETE_STEPS: list = []


def user_delete_step_register(step) -> None:
    """Register `step(*, user)` to run, in registration order, when an account is deleted (once)."""
    if step not in _USER_DELETE_STEPS:
        _USER_DELETE_STEPS.append(step)


def user_delete(*, user: User, password: str) -> None:
    """Delete the account after checking its password (ValidationError {"password": [...]} when
    it is wrong or the account has no password): first every registered step (captions removes
    the images, their files and thumbnails, captions and batches), then the user row, whose
    remaining rows (API keys, feedback, settings) go with it by cascade."""
    if not password or not user.has_usable_password() or not user.check_password(password):
        raise ValidationError({"password": ["That is not your password."]})
    user_credentials_revoke(user=user)  # a token outliving its account is refused (401), not a 500
    for step in list(_USER_DELETE_STEPS):
        step(user=user)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).delete()


def user_caption_language_set(*, user: User, language: str) -> User:
    """Set the user's default caption language (BCP 47, canonicalised: "pt-br" -> "pt-BR"; "" =
    the model's default, English). Raises ValidationError({"caption_language": [...]}) for a
    malformed tag. Used where a request names no language (captions.caption_request.caption_request_check)."""
    from mlcore.styles import InvalidLanguage, check_language

    language = (language or "").strip()
    if language:
        try:
            language = check_language(language)
        except InvalidLanguage as error:
            raise ValidationError({"caption_language": [error.message]}) from None
    user.caption_language = language
    user.save(update_fields=["caption_language"])
    return user


# --- API keys ---------------------------------------------------------------------------------

# last_used_at is written at most this often per key: a busy script should not mean a write per call.
API_KEY_LAST_USED_PRECISION = timedelta(minutes=1)


class ApiKeyRejected(Exception):
    """The presented key does not authenticate anybody; the message says why."""


def api_key_create(
    *, owner: User, name: str, expires_at: datetime | None = None, scopes=None, parent: ApiKey | None = None
) -> tuple[ApiKey, str]:
    """A new key for `owner` and its full text, which is never stored and cannot be shown again.
    `scopes`: some of ApiKey.SCOPES (default read and write). `parent`: the key that asks for it
    (through the API): it needs the "keys" scope, the new key gets no scope it lacks, expires no
    later than it, and is revoked with it."""
    chosen = set(scopes) if scopes is not None else set(ApiKey.DEFAULT_SCOPES.split(","))
    unknown = chosen - set(ApiKey.SCOPES)
    if unknown or not chosen:
        raise ValidationError({"scopes": [f"Choose one or more of {', '.join(ApiKey.SCOPES)}."]})
    if parent is not None:
        if "keys" not in parent.scope_set:
            raise PermissionDenied("This API key cannot make keys: it lacks the keys scope.")
        if chosen - parent.scope_set:
            raise ValidationError({"scopes": [
                f"A key can only make keys with its own scopes ({', '.join(sorted(parent.scope_set))})."]})
        if parent.expires_at is not None and (expires_at is None or expires_at > parent.expires_at):
            expires_at = parent.expires_at
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Give the key a name, such as the script that will use it."]})
    if len(name) > 100:
        raise ValidationError({"name": ["At most 100 characters."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["The expiry must be in the future."]})
    for _ in range(5):  # a prefix collision is rare (32 bits); draw again
        prefix, secret = keys.new_key()
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    owner=owner, name=name, prefix=prefix, hashed_secret=keys.key_hash(secret), expires_at=expires_at,
                    scopes=",".join(scope for scope in ApiKey.SCOPES if scope in chosen), parent=parent,
                )
        except IntegrityError:
            continue
        return api_key, f"{prefix}.{secret}"
    raise RuntimeError("Could not draw a unique API key prefix.")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke the key for good, with every key it made (and they made), so that no key outlives
    the one it came from (revoking twice keeps the first time)."""
    now = timezone.now()
    with transaction.atomic():
        level = [api_key.pk]
        while level:
            ApiKey.objects.filter(pk__in=level, revoked_at__isnull=True).update(revoked_at=now)
            level = list(ApiKey.objects.filter(parent_id__in=level).values_list("pk", flat=True))
    api_key.refresh_from_db()
    return api_key


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    """The key behind `raw_key`, its use recorded; raises ApiKeyRejected with the reason."""
    parts = keys.key_split(raw_key)
    if parts is None:
        raise ApiKeyRejected("Malformed API key: expected 'Api-Key <prefix>.<secret>'.")
    prefix, secret = parts
    api_key = ApiKey.objects.select_related("owner").filter(prefix=prefix).first()
    # The secret is checked first, so that a prefix alone tells nothing about the key.
    if api_key is None or not keys.key_matches(secret, api_key.hashed_secret):
        raise ApiKeyRejected("Unknown API key.")
    now = timezone.now()
    state = api_key.state_at(now)
    if state == "revoked":
        raise ApiKeyRejected(f"This API key was revoked on {api_key.revoked_at:%Y-%m-%d %H:%M} UTC.")
    if state == "expired":
        raise ApiKeyRejected(f"This API key expired on {api_key.expires_at:%Y-%m-%d %H:%M} UTC.")
    if not api_key.owner.is_active:
        raise ApiKeyRejected("The account of this API key is disabled.")
    if api_key.last_used_at is None or now - api_key.last_used_at >= API_KEY_LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
