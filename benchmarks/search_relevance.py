"""Relevance-ordered search on SQLite at N images in one account: the one-query FTS5 form
(captions.selectors, bm25() of the joined MATCH) against the correlated form it replaced (a MATCH
per matching row). Run on a throwaway database:

    VAR_DIR=/tmp/bench-search DJANGO_SETTINGS_MODULE=captionsite.settings \\
        python -m benchmarks.search_relevance --images 20000

Prints the median and p95 of 10 runs of the first page (50 rows) for each form."""

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import FloatField
    from django.db.models.expressions import RawSQL
    from django.utils import timezone

    from accounts.models import User
    from captions.models import Image
    from captions.search import fts5_match
    from captions.selectors import images_search_for

    assert connection.vendor == "sqlite", "this benchmark measures SQLite's FTS5"
    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(email="bench-search@example.invalid")
    have = Image.objects.filter(owner=user).count()
    words = ["dog", "cat", "beach", "city", "tree", "car"]
    now = timezone.now()
    batch = []
    for n in range(have, args.images):
        batch.append(Image(owner=user, file=f"images/b/{n}.jpg", thumbnail=f"thumbnails/b/{n}.jpg",
                           original_filename=f"{words[n % 6]} {words[(n * 7) % 6]} photo {n}.jpg", sha256=f"{n:064x}",
                           width=1, height=1, format="JPEG", byte_size=1, status=Image.Status.DONE, available_at=now))
        if len(batch) == 5000:
            Image.objects.bulk_create(batch)
            batch = []
    if batch:
        Image.objects.bulk_create(batch)

    def timed(queryset) -> list[float]:
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            list(queryset[:50])
            times.append((time.perf_counter() - started) * 1000)
        return times

    one_query = images_search_for(user, "dog", ordering="relevance")
    match = fts5_match(["dog"])
    correlated = (
        Image.objects.filter(owner=user, id__in=RawSQL(
            "SELECT rowid FROM captions_image_fts WHERE captions_image_fts MATCH %s", (match,)))
        .annotate(search_rank=RawSQL(
            "SELECT -bm25(captions_image_fts) FROM captions_image_fts "
            "WHERE captions_image_fts MATCH %s AND rowid = captions_image.id", (match,), output_field=FloatField()))
        .order_by("-search_rank", "-created_at", "-id")
    )
    assert [i.pk for i in one_query[:50]] == [i.pk for i in correlated[:50]], "the two forms rank differently"
    for name, queryset in (("one FTS5 query (bm25 of the join)", one_query), ("correlated MATCH per row", correlated)):
        times = sorted(timed(queryset))
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(f"{args.images} images, 'dog' by relevance, {name}: median {statistics.median(times):.0f} ms, p95 {p95:.0f} ms")


if __name__ == "__main__":
    main()
