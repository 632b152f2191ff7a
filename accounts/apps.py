from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from accounts import lockout, receivers  # noqa: F401 (connect their signal receivers)

        post_migrate.connect(_demo_owner_ensure, sender=self, dispatch_uid="accounts.demo_owner")


def _demo_owner_ensure(sender, using="default", **kwargs) -> None:
    """Every migrate (and test-database flush) makes sure the demo's system account exists and
    is closed, before any request can sign up its address."""
    from accounts.services import demo_owner_ensure

    if using == "default":
        demo_owner_ensure()
