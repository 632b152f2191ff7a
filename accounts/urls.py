from django.urls import path

from accounts import api_key_views, views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("api-keys/", api_key_views.api_keys, name="api_keys"),
    path("api-keys/<str:prefix>/revoke/", api_key_views.api_key_revoke, name="api_key_revoke"),
]
