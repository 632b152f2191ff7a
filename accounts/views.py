import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy

from accounts import lockout
from accounts.forms import AccountDeleteForm, CaptionLanguageForm, EmailAuthenticationForm, SignupForm
from accounts.services import (
    user_caption_language_set,
    user_credentials_revoke,
    user_delete,
    user_email_verified,
    user_signup,
)
from core import throttle
from core.forms import add_service_errors
from core.throttle import client_address


def _too_many(request, template: str, context: dict, wait: int, what: str) -> HttpResponse:
    """The page again with a 429 and Retry-After, saying how long to wait."""
    minutes = max(1, math.ceil(wait / 60))
    messages.error(request, f"{what}; try again in {minutes} minute{'s' if minutes != 1 else ''}.")
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(wait)
    return response


def signup(request: HttpRequest) -> HttpResponse:
    """Sign-up answers the same for a new address and for one that has an account (a redirect to
    the gallery, no "already exists"), so it cannot be used to find out who has an account.

    New address: the account is made and signed in. Taken address: nothing changes; the person
    is signed in only if the password is that account's (checked through authenticate(), so the
    login throttle counts the attempt), and otherwise lands on the sign-in page like any visitor.
    """
    if request.user.is_authenticated:
        return redirect("captions:gallery")
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        wait = throttle.hit("signup", client_address(request), settings.ACCOUNT_RATE_SIGNUP)
        if wait:
            return _too_many(request, "accounts/signup.html", {"form": SignupForm()}, wait,
                             "Too many sign-ups from this address")
    if request.method == "POST" and form.is_valid():
        email, password = form.cleaned_data["email"], form.cleaned_data["password1"]
        verify = settings.ACCOUNT_EMAIL_VERIFICATION
        try:
            user = user_signup(email=email, password=password, active=not verify)
        except ValidationError as error:
            add_service_errors(form, error)
            return render(request, "accounts/signup.html", {"form": form}, status=400)
        if verify:
            # The same answer for a new and a taken address: a link goes only to a new one.
            if user is not None:
                _verification_mail(request, user)
            return render(request, "accounts/verify_sent.html", {"email": email})
        if user is None:
            user = authenticate(request, username=email, password=password)
        if user is not None:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        else:  # says no more than landing signed out already does (see docs/security.md)
            messages.info(request, "You are not signed in. If this address already has an account, sign in "
                                   "with its password, or reset the password from the sign-in page.")
        return redirect("captions:gallery")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


def _verification_mail(request, user) -> None:
    from django.contrib.auth.tokens import default_token_generator
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    link = request.build_absolute_uri(reverse("accounts:verify", kwargs={
        "uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)}))
    body = render_to_string("accounts/verify_email.txt", {"email": user.email, "link": link})
    send_mail("Confirm your captionsite account", body, None, [user.email])


def verify_email(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The link mailed at sign-up: a valid one activates the account and signs it in."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.http import urlsafe_base64_decode

    from accounts.models import User

    try:
        user = User.objects.get(pk=int(urlsafe_base64_decode(uidb64).decode()))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        user = None
    if user is None or user.has_usable_password() is False or not default_token_generator.check_token(user, token):
        return render(request, "accounts/verify_sent.html", {"invalid": True}, status=400)
    user_email_verified(user=user)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, "Your address is confirmed: welcome.")
    return redirect("captions:gallery")


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if lockout.locked_for(self.request):
            response.status_code = 429
            response["Retry-After"] = str(lockout.locked_for(self.request))
        return response


class LogoutView(auth_views.LogoutView):
    """POST logs out (Django 5 logs out by POST only). GET (a typed or bookmarked /accounts/logout/)
    shows a page with the Log out button, not an empty 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        return render(request, "accounts/logout.html")

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.success(request, "You are logged out.")
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change the password (the current one is asked first); the session stays signed in."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("captions:gallery")

    def form_valid(self, form):
        response = super().form_valid(form)
        user_credentials_revoke(user=form.user)  # tokens and keys made with the old password go
        messages.success(self.request, "Your password was changed.")
        messages.info(self.request, "Your API keys and the apps signed in with your old password were revoked.")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Ask for a reset link by e-mail. The answer is the same whether or not the address has an
    account, so the form does not reveal who has one."""

    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def post(self, request, *args, **kwargs):
        wait = throttle.hit("password-reset-address", client_address(request), settings.ACCOUNT_RATE_PASSWORD_RESET)
        if wait:
            return _too_many(request, self.template_name, {"form": self.get_form_class()()}, wait,
                             "Too many reset requests from this address")
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        # Per address above; per account here, answered like a sent mail (no account is revealed)
        # but not sent: nobody can fill an inbox with reset mails.
        email = form.cleaned_data["email"].strip().lower()
        if throttle.hit("password-reset-account", email, settings.ACCOUNT_RATE_PASSWORD_RESET):
            return redirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:login")

    def form_valid(self, form):
        response = super().form_valid(form)
        lockout.unlock_account(form.user.email)  # the owner proved it: sign-in locks go
        user_credentials_revoke(user=form.user)
        messages.success(self.request, "Your password was set: log in with it.")
        return response


@login_required
def account_delete(request: HttpRequest) -> HttpResponse:
    """GET: what deleting the account removes, and a password field. POST: with the right
    password the account, its images, files, thumbnails and captions are deleted and the
    visitor is logged out (redirect to the home page with a notice); a wrong one is a 400."""
    form = AccountDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user_delete(user=request.user, password=form.cleaned_data["password"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            logout(request)
            messages.success(request, "Your account, your images and their captions were deleted.")
            return redirect("captions:gallery")
    return render(request, "accounts/account_delete.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def caption_language(request: HttpRequest) -> HttpResponse:
    """The user's default caption language (used when an upload names none and the model can
    write it). GET: the form; POST: saved and back to the gallery, or 400 with the form's error."""
    form = CaptionLanguageForm(request.POST or None, initial={"caption_language": request.user.caption_language})
    if request.method == "POST" and form.is_valid():
        try:
            user_caption_language_set(user=request.user, language=form.cleaned_data["caption_language"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            shown = request.user.caption_language or "the model's default (English)"
            messages.success(request, f"Your captions are now written in {shown} where the model can.")
            return redirect("captions:gallery")
    return render(request, "accounts/caption_language.html", {"form": form}, status=400 if form.errors else 200)
