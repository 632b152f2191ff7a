from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.params import int_params_or_404
from core.views import staff_required
from monitoring import access, selectors
from monitoring import metrics as prometheus_metrics


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_ENABLED:
        raise Http404("Metrics are switched off (METRICS_ENABLED=false).")
    allowed = access.metrics_access_allowed(
        authorization=request.headers.get("Authorization", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        user=getattr(request, "user", None),
    )
    if not allowed:
        return HttpResponse(access.REFUSAL, status=403, content_type="text/plain")
    body, content_type = prometheus_metrics.exposition()
    return HttpResponse(body, content_type=content_type)


@require_GET
@staff_required(message="The dashboard is for operators (the view_operations permission).",
                permission="monitoring.view_operations")
def dashboard(request: HttpRequest) -> HttpResponse:
    run_ids = int_params_or_404(request.GET.getlist("run"), name="run")
    data = selectors.dashboard_for(period=request.GET.get("period"), run_ids=run_ids)
    return render(
        request,
        "monitoring/dashboard.html",
        {"dashboard": data, "periods": list(selectors.PERIODS)},
    )
