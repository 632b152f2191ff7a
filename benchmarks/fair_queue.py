"""The two-user fairness benchmark: user A queues a backlog (2,000 images), then user B queues 5;
workers claim batches through the site's claim query (captions.services.queue.images_claim) and
finish each batch after a simulated model time per image. Reports how many batches and how many
seconds B waited for its last image, with the fair claim and with the former first-in-first-out
order for comparison.

Runs in a throwaway test database on the configured engine (SQLite by default, PostgreSQL with
DATABASE_URL), so it never touches the site's data:

    python -m benchmarks.fair_queue --backlog 2000 --small 5 --batch 8 --seconds-per-image 0.5
"""

import argparse
import os
import time


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "captionsite.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    if connection.vendor != "sqlite":  # a database of this run's own, beside any test run's
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_fair_queue_{os.getpid()}"
    return connection, connection.creation.create_test_db(verbosity=0, keepdb=False)


def _fifo_claim(*, worker_id: str, limit: int):
    """The former claim order (available_at, id) for comparison: one queue for everybody."""
    import uuid

    from django.db import transaction
    from django.utils import timezone

    from captions.models import Image

    token = f"{worker_id}:{uuid.uuid4().hex[:12]}"
    with transaction.atomic():
        ids = list(Image.objects.filter(status=Image.Status.QUEUED, available_at__lte=timezone.now())
                   .order_by("available_at", "id").values_list("id", flat=True)[:limit])
        Image.objects.filter(id__in=ids).update(status=Image.Status.PROCESSING, claim_token=token,
                                                claim_expires_at=timezone.now() + timezone.timedelta(minutes=1))
    return token, list(Image.objects.filter(claim_token=token))


def _queue(owner, count: int, offset: int) -> None:
    """`count` queued images of `owner` (rows only: the claim order is what is measured)."""
    import uuid

    from django.utils import timezone

    from captions.models import Image

    now = timezone.now()
    Image.objects.bulk_create([
        Image(owner=owner, file=f"bench/{offset + n}.png", original_filename=f"{offset + n}.png",
              sha256=uuid.uuid4().hex * 2, width=8, height=8, format="PNG", byte_size=100,
              status=Image.Status.QUEUED, available_at=now)
        for n in range(count)
    ], batch_size=500)


def run(*, backlog: int, small: int, batch: int, seconds_per_image: float, fair: bool) -> dict:
    from django.utils import timezone

    from accounts.models import User
    from captions.models import Image
    from captions.services.queue import images_claim

    Image.objects.all().delete()
    a, _ = User.objects.get_or_create(email="a@bench.invalid")
    b, _ = User.objects.get_or_create(email="b@bench.invalid")
    _queue(a, backlog, 0)
    _queue(b, small, backlog)
    claim = images_claim if fair else _fifo_claim
    batches, simulated, claim_seconds = 0, 0.0, 0.0
    while Image.objects.filter(owner=b, status=Image.Status.QUEUED).exists():
        started = time.perf_counter()
        token, claimed = claim(worker_id="bench", limit=batch)
        claim_seconds += time.perf_counter() - started
        batches += 1
        simulated += seconds_per_image * len(claimed)
        Image.objects.filter(claim_token=token).update(status=Image.Status.DONE, finished_at=timezone.now(),
                                                       claim_expires_at=None)
    return {"order": "fair" if fair else "fifo", "b_done_after_batches": batches,
            "b_wait_seconds": round(simulated, 1), "mean_claim_ms": round(1000 * claim_seconds / max(1, batches), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlog", type=int, default=2000, help="user A's queued images")
    parser.add_argument("--small", type=int, default=5, help="user B's images, queued after A's")
    parser.add_argument("--batch", type=int, default=8, help="images per claim (CAPTION_BATCH_SIZE)")
    parser.add_argument("--seconds-per-image", type=float, default=0.5,
                        help="simulated model time per image (0.5: BLIP base on a CPU core)")
    args = parser.parse_args()
    connection, name = _setup()
    try:
        print(f"database: {connection.vendor}; A: {args.backlog} images, then B: {args.small}; "
              f"batch {args.batch}; {args.seconds_per_image} s per image")
        for fair in (True, False):
            print(run(backlog=args.backlog, small=args.small, batch=args.batch,
                      seconds_per_image=args.seconds_per_image, fair=fair))
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()
