from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import keys
from accounts.models import ApiKey, User


@transaction.atomic
def user_create(*, email: str, password: str) -> User:
    return User.objects.create_user(email=email, password=password)


def user_signup(*, email: str, password: str) -> User | None:
    """The new account for `email`, or None when the address already has one (nothing changes
    then: the caller answers exactly as for a new account, so sign-up reveals no addresses)."""
    if User.objects.filter(email__iexact=email).exists():
        return None
    try:
        with transaction.atomic():
            return user_create(email=email, password=password)
    except IntegrityError:  # the same address signed up a moment ago
        return None


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


def api_key_create(*, owner: User, name: str, expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """A new key for `owner` and its full text, which is never stored and cannot be shown again."""
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
                    owner=owner, name=name, prefix=prefix, hashed_secret=keys.key_hash(secret), expires_at=expires_at
                )
        except IntegrityError:
            continue
        return api_key, f"{prefix}.{secret}"
    raise RuntimeError("Could not draw a unique API key prefix.")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke the key for good (revoking twice keeps the first time)."""
    if api_key.revoked_at is None:
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
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
