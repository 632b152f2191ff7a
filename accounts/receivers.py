"""Signal receivers of the accounts app (connected in AccountsConfig.ready)."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from core.throttle import client_address


@receiver(user_logged_in, dispatch_uid="accounts.receivers.record_session")
def record_session(sender, request, user, **kwargs):
    """A browser sign-in is listed on the user's Sign-ins page (an API token sign-in sends no
    session; its refresh token is listed instead)."""
    from accounts.services import sign_in_session_record

    session = getattr(request, "session", None)
    if session is None:
        return
    if session.session_key is None:
        session.save()
    sign_in_session_record(user=user, session_key=session.session_key, ip_address=client_address(request),
                           user_agent=request.META.get("HTTP_USER_AGENT", ""))
