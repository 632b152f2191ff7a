"""Background tasks by function object, never by a hand-written dotted string.

`task_path(fn)` is the dotted path django-q2 imports; `enqueue(fn, ...)` sends it to the broker;
`ScheduleSpec` declares a schedule from the task function itself (each app lists its own in
`<app>.tasks.SCHEDULES`), and `schedules_sync(specs)` writes them idempotently (the
`setup_schedules` command runs it at release and start-up).
"""

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# django_q.models.Schedule.schedule_type codes
MINUTES, HOURLY, DAILY = "I", "H", "D"


def task_path(fn: Callable | str) -> str:
    """"package.module.function" for a module-level function (or that dotted path itself, checked:
    a service names the task of its own app's task module that way, as that module imports the
    service); raises ValueError for anything a worker could not import by that path (a lambda,
    a nested function, a method, a path that names no function)."""
    if isinstance(fn, str):
        module_name, _, name = fn.rpartition(".")
        try:
            target = getattr(importlib.import_module(module_name), name, None) if module_name else None
        except ImportError:
            target = None
        if not callable(target):
            raise ValueError(f"{fn} does not name a module-level function.")
        return fn
    path = f"{fn.__module__}.{fn.__qualname__}"
    if "<" in fn.__qualname__ or "." in fn.__qualname__:
        raise ValueError(f"{path} is not a module-level function, so a worker cannot import it.")
    module = importlib.import_module(fn.__module__)
    if getattr(module, fn.__qualname__, None) is not fn:
        raise ValueError(f"{path} does not name this function.")
    return path


def enqueue(fn: Callable | str, *args, **kwargs) -> str:
    """Queue `fn(*args)` for a worker (django_q.tasks.async_task by the function's dotted path;
    keyword arguments such as task_name go to async_task). Returns the task id."""
    from django_q.tasks import async_task

    return async_task(task_path(fn), *args, **kwargs)


@dataclass(frozen=True)
class ScheduleSpec:
    """One repeating task: `name` is its key (kept stable: renaming makes a second schedule);
    schedule_type is MINUTES (every `minutes`), HOURLY or DAILY."""

    name: str
    func: Callable
    schedule_type: str
    minutes: int | None = None

    def fields(self) -> dict:
        return {
            "func": task_path(self.func),
            "schedule_type": self.schedule_type,
            "minutes": self.minutes,
            "repeats": -1,
        }


def schedules_sync(specs: Iterable[ScheduleSpec]) -> dict[str, str]:
    """Create or update one django-q2 Schedule per spec, keyed by name; running it again changes
    nothing. A schedule whose task moved (same name, other path) is updated. Returns
    {name: "created" | "updated" | "unchanged"}."""
    from django.db import transaction
    from django_q.models import Schedule

    outcome = {}
    with transaction.atomic():
        for spec in specs:
            wanted = spec.fields()
            current = Schedule.objects.filter(name=spec.name).order_by("id")
            existing = current.first()
            if existing is None:
                Schedule.objects.create(name=spec.name, **wanted)
                outcome[spec.name] = "created"
                continue
            current.exclude(pk=existing.pk).delete()  # duplicates would run the task twice
            if all(getattr(existing, key) == value for key, value in wanted.items()):
                outcome[spec.name] = "unchanged"
                continue
            for key, value in wanted.items():
                setattr(existing, key, value)
            existing.save()
            outcome[spec.name] = "updated"
    return outcome
