from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from monitoring import access, selectors
from monitoring import metrics as prometheus_metrics


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_ENABLED:
        raise Http404("Metrics are switched off (METRICS_ENABLED=false).")
    allowed = access.metrics_access_allowed(
        authorization=request.headers.get("Authorization", ""), remote_addr=request.META.get("REMOTE_ADDR", "")
    )
    if not allowed:
        return HttpResponse(access.REFUSAL, status=403, content_type="text/plain")
    body, content_type = prometheus_metrics.exposition()
    return HttpResponse(body, content_type=content_type)


def staff_required(view):
    """Logged out: the login page. Logged in without staff rights: 403."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("The dashboard is for staff.")
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    run_ids = [int(value) for value in request.GET.getlist("run") if value.isdigit()]
    data = selectors.dashboard_for(period=request.GET.get("period"), run_ids=run_ids)
    return render(
        request,
        "monitoring/dashboard.html",
        {"dashboard": data, "periods": list(selectors.PERIODS)},
    )
