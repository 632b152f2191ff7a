from django import template

from monitoring import charts

register = template.Library()


@register.simple_tag
def bar_chart(bars, title, color=charts.PALETTE[0]):
    return charts.bar_chart(bars, title=title, color=color)


@register.simple_tag
def runs_chart(runs, metric_names):
    """Evaluation runs side by side: one group per metric, one bar per run."""
    series = [
        (f"#{run.pk} {run.model_id or run.model_spec}", [_score(run, name) for name in metric_names]) for run in runs
    ]
    return charts.grouped_bar_chart(metric_names, series, title="Evaluation scores by run")


@register.filter
def score(run, name):
    return _score(run, name)


def _score(run, name):
    value = run.scores.get(name)
    return float(value) if isinstance(value, (int, float)) else None


@register.filter
def percent(value, digits=1):
    if value is None:
        return "–"
    return f"{value * 100:.{int(digits)}f}%"
