from django.contrib import admin
from django.urls import include, path

from monitoring import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("captionsite.api_urls")),
    path("health/", health.serving, name="health"),
    path("health/live/", health.liveness, name="health-live"),
    path("health/ready/", health.readiness, name="health-ready"),
    path("accounts/", include("accounts.urls")),
    path("", include("monitoring.urls")),
    path("review/", include("feedback.urls")),
    path("", include("captions.urls")),
]

# JSON under /api/, the usual pages elsewhere.
handler404 = "core.exceptions.page_not_found"
handler500 = "core.exceptions.server_error"
