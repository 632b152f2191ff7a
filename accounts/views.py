from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from accounts import throttle
from accounts.forms import AccountDeleteForm, CaptionLanguageForm, EmailAuthenticationForm, SignupForm
from accounts.services import user_caption_language_set, user_delete, user_signup
from core.forms import add_service_errors


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
    if request.method == "POST" and form.is_valid():
        email, password = form.cleaned_data["email"], form.cleaned_data["password1"]
        user = user_signup(email=email, password=password)
        if user is None:
            user = authenticate(request, username=email, password=password)
        if user is not None:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        else:  # says no more than landing signed out already does (see docs/security.md)
            messages.info(request, "You are not signed in. If this address already has an account, sign in "
                                   "with its password, or reset the password from the sign-in page.")
        return redirect("captions:gallery")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if throttle.locked_for(self.request):
            response.status_code = 429
            response["Retry-After"] = str(throttle.locked_for(self.request))
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
        messages.success(self.request, "Your password was changed.")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Ask for a reset link by e-mail. The answer is the same whether or not the address has an
    account, so the form does not reveal who has one."""

    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:login")

    def form_valid(self, form):
        response = super().form_valid(form)
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
