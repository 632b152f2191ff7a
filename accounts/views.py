from django.contrib.auth import authenticate, login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts import throttle
from accounts.forms import EmailAuthenticationForm, SignupForm
from accounts.services import user_signup


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
    pass
