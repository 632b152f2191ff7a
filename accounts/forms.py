from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from accounts import lockout
from accounts.models import User
from accounts.services import email_reserved_reason


class SignupForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        # Whether the address already has an account is never said here (see accounts.views.signup).
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        reason = email_reserved_reason(email)
        if reason:
            raise forms.ValidationError(reason, code="reserved")
        return email

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords do not match.")
        elif first and cleaned.get("email"):
            try:
                password_validation.validate_password(first, User(email=cleaned["email"]))
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )

    def clean_username(self) -> str:
        return self.cleaned_data["username"].lower()

    def get_invalid_login_error(self):
        return throttled_login_error(self.request) or super().get_invalid_login_error()


def throttled_login_error(request) -> forms.ValidationError | None:
    """The lockout message when the sign-in lockout refused this request's attempt."""
    seconds = lockout.locked_for(request)
    if not seconds:
        return None
    return forms.ValidationError(lockout.lockout_message(seconds), code="throttled")


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    def get_invalid_login_error(self):
        return throttled_login_error(self.request) or super().get_invalid_login_error()


class ApiKeyForm(forms.Form):
    EXPIRY_CHOICES = [("", "Never"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")]

    name = forms.CharField(
        max_length=100, help_text="What the key is for, such as the script that will use it.",
        widget=forms.TextInput(attrs={"placeholder": "nightly import"}),
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires", choices=EXPIRY_CHOICES, coerce=int, empty_value=None, required=False
    )
    scopes = forms.MultipleChoiceField(
        label="It may", widget=forms.CheckboxSelectMultiple, initial=["read", "write"], required=False,
        help_text="None ticked: read and write.",
        choices=[("read", "read (list and download)"), ("write", "write (upload, delete, give feedback)"),
                 ("keys", "manage API keys")],
    )


class AccountDeleteForm(forms.Form):
    password = forms.CharField(
        label="Your password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="To be sure it is you.",
    )


class CaptionLanguageForm(forms.Form):
    caption_language = forms.CharField(
        label="Default caption language",
        required=False,
        max_length=35,
        help_text="A BCP 47 language tag such as en, fr, de or pt-BR. Empty: English. Models that write "
        "only English (BLIP and the other classic captioners) keep writing English.",
    )
