from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import api_key_views, sign_in_views, views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("verify/<uidb64>/<token>/", views.verify_email, name="verify"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path("password/reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("delete/", views.account_delete, name="delete"),
    path("caption-language/", views.caption_language, name="caption_language"),
    path("sign-ins/", sign_in_views.sign_ins, name="sign_ins"),
    path("sign-ins/sessions/<int:session_id>/end/", sign_in_views.session_end, name="session_end"),
    path("sign-ins/tokens/<int:token_id>/revoke/", sign_in_views.token_revoke, name="token_revoke"),
    path("sign-ins/end-others/", sign_in_views.end_all_others, name="end_all_others"),
    path("api-keys/", api_key_views.api_keys, name="api_keys"),
    path("api-keys/<str:prefix>/revoke/", api_key_views.api_key_revoke, name="api_key_revoke"),
]
