from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from accounts.forms import CaptionLanguageForm, EmailAuthenticationForm, SignupForm
from accounts.services import user_caption_language_set, user_create
from core.forms import add_service_errors


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("captions:gallery")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_create(email=form.cleaned_data["email"], password=form.cleaned_data["password1"])
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("captions:gallery")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
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
