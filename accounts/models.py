from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not extra_fields["is_staff"] or not extra_fields["is_superuser"]:
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person who signs in with an email address; there is no separate username."""

    username = None
    email = models.EmailField("email address", unique=True)
    # The language (BCP 47, e.g. "fr", "pt-BR") of this user's captions when a request names none;
    # empty: the model's default (English). Validated by mlcore's check_language where it is set.
    # (db_default too: rows written by code that predates the field, e.g. older migrations' states, get "")
    caption_language = models.CharField(
        "default caption language", max_length=35, blank=True, default="", db_default=""
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class ApiKey(models.Model):
    """A key for scripts, sent as `Authorization: Api-Key <prefix>.<secret>`.

    Only the prefix (to find the key) and a hash of the secret are stored; the full key is shown
    once, when it is made. A key acts as its owner within its scopes: "read" (GET and other safe
    requests), "write" (uploads, deletes, feedback, ...), "keys" (list, make and revoke keys). A
    key made by a key has at most its maker's scopes and is revoked with it (`parent`).
    """

    SCOPES = ("read", "write", "keys")
    DEFAULT_SCOPES = "read,write"

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_secret = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scopes = models.CharField(max_length=40, default=DEFAULT_SCOPES, db_default=DEFAULT_SCOPES)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
                               help_text="The key that made this one through the API (revoked with it).")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(part for part in self.scopes.split(",") if part)

    def state_at(self, moment) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= moment:
            return "expired"
        return "active"


class SignInSession(models.Model):
    """One browser session of a user, recorded when it signs in, so that the user can see and end
    it (the "Sign-ins" page): the session itself stays Django's (django.contrib.sessions)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_in_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ip_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
