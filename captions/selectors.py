"""Reads of the captions app."""

import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, FloatField, Q, QuerySet, Value
from django.shortcuts import get_object_or_404

from captions.models import Batch, Caption, CaptioningDefaults, Image

# --- Which model and which review threshold caption now ---------------------------------------------


@dataclass(frozen=True)
class CaptioningDefaultsNow:
    """model_spec: what workers load (a registry name, folder or hub id); review_threshold: a
    confidence in [0, 1], below which a caption needs review. Each `*_source` is "settings"
    (CAPTION_MODEL / CAPTION_REVIEW_THRESHOLD) or "set" (captioning_defaults_set, e.g. a model
    activation or an applied calibration; `reason` and `changed_at` say which and when)."""

    model_spec: str
    review_threshold: float
    model_source: str
    threshold_source: str
    reason: str = ""
    changed_at: datetime | None = None


def captioning_defaults() -> CaptioningDefaultsNow:
    """Which model and which review threshold caption now: the newest CaptioningDefaults row,
    each value falling back to its setting. One indexed query; workers call it for every batch,
    so a change needs no restart."""
    row = CaptioningDefaults.objects.order_by("-created_at", "-id").first()
    spec = row.model_spec if row else ""
    threshold = row.review_threshold if row else None
    return CaptioningDefaultsNow(
        model_spec=spec or settings.CAPTION_MODEL,
        review_threshold=settings.CAPTION_REVIEW_THRESHOLD if threshold is None else threshold,
        model_source="set" if spec else "settings",
        threshold_source="settings" if threshold is None else "set",
        reason=row.reason if row else "",
        changed_at=row.created_at if row else None,
    )


def caption_model_choices() -> list[str]:
    """Models a request may name (upload form, API `model`, re-caption, review): the active one
    first, CAPTION_MODEL, the specs of CAPTION_MODEL_CHOICES (openai:/fallback:/ensemble: specs,
    folders: the operator's explicit list), then the names mlcore's model catalogue offers (VLMs
    first, then the others; a local-only model such as ``inhouse`` only where its trained
    checkpoint exists) that are installed here (mlcore.availability: in the model cache or a models
    folder); a registry name that is not installed is not offered (``model_not_installed_reason``
    says why when a request names it)."""
    from mlcore.availability import spec_installed
    from mlcore.registry import VLM_REGISTRY, offered_models

    offered = offered_models()
    configured = [captioning_defaults().model_spec, settings.CAPTION_MODEL, *settings.CAPTION_MODEL_CHOICES]
    registry = [name for name in dict.fromkeys([*(n for n in VLM_REGISTRY if n in offered), *sorted(offered)])
                if name not in configured and spec_installed(name)[0]]
    return list(dict.fromkeys(c for c in [*configured, *registry] if c))


def model_not_installed_reason(spec: str) -> str:
    """Why a registry model a request names is not offered ("" when it is not a registry name or
    it is installed): mlcore.availability's words, naming the model."""
    from mlcore.availability import spec_installed
    from mlcore.registry import REGISTRY, VLM_REGISTRY

    if spec not in REGISTRY and spec not in VLM_REGISTRY:
        return ""
    ok, why = spec_installed(spec)
    return "" if ok else why


@dataclass(frozen=True)
class ModelAbility:
    """What a model of caption_model_choices() can write, known without loading it
    (mlcore.capabilities): `styles` / `languages` (primary subtags) are None for "any"; `known`
    is False when it cannot be told offline (the worker checks when it runs)."""

    name: str
    styles: tuple[str, ...] | None
    languages: tuple[str, ...] | None
    known: bool = True

    def as_dict(self) -> dict:
        return {"styles": self.styles, "languages": self.languages, "known": self.known}


def model_abilities(specs: list[str] | None = None) -> dict[str, ModelAbility]:
    """{spec: ModelAbility} for `specs` (default: caption_model_choices(), in its order). Reads at
    most a config.json per model; loads no weights."""
    import mlcore
    from mlcore.capabilities import spec_capabilities

    found = {}
    for spec in caption_model_choices() if specs is None else specs:
        try:
            caps = spec_capabilities(spec)
        except mlcore.MLCoreError:
            found[spec] = ModelAbility(spec, None, None, known=False)
            continue
        found[spec] = ModelAbility(
            spec,
            None if caps.styles is None else tuple(sorted(caps.styles)),
            None if caps.languages is None else tuple(sorted(caps.languages)),
            caps.known,
        )
    return found


def gallery_images_for(user) -> QuerySet[Image]:
    """The user's images, newest first, with the caption shown under each."""
    return Image.objects.filter(owner=user).select_related("current_caption").order_by("-created_at", "-id")


def image_for(user, public_id) -> Image:
    """One of the user's images; anybody else's is a 404, never a 403 that confirms it exists."""
    return get_object_or_404(
        Image.objects.select_related("current_caption", "batch"), owner=user, public_id=public_id
    )


def caption_history_for(image: Image) -> QuerySet[Caption]:
    return image.captions.select_related("created_by").order_by("-created_at", "-id")


def alt_text_state(image: Image) -> dict:
    """What the image page and the API say about an image's alt text: its purpose and context,
    whether it is decorative (alt=""), the current text's source (captions.services.alttext),
    the checker's findings, the model suggestions kept beside a person's text, and which model
    did not use the context (a prompt-less one: its caption has no prompt, or one without it)."""
    from captions.alttext import (
        SOURCE_LABELS,
        caption_is_protected,
        caption_source,
        image_alt_text,
        image_context,
        image_purpose,
    )
    from mlcore.alttext import PURPOSES, prompt_guidance

    caption = image.current_caption
    purpose, context = image_purpose(image), image_context(image)
    suggestions = []
    if caption is not None and caption_is_protected(caption):
        suggestions = list(
            image.captions.filter(source__in=(Caption.Source.MODEL, Caption.Source.CACHE), created_at__gte=caption.created_at)
            .exclude(pk=caption.pk).exclude(text="").order_by("-created_at", "-id")[:5]
        )
    unused_by = ""
    wanted = [words for words in prompt_guidance(purpose, context, (image.params or {}).get("action") or "") if words]
    if (caption is not None and caption.model_id and caption.source != Caption.Source.HUMAN and wanted
            and purpose != "decorative" and any(words not in (caption.prompt or "") for words in wanted)):
        unused_by = caption.model_id
    source = caption_source(caption)
    return {
        "purpose": purpose,
        "purpose_label": PURPOSES.get(purpose, purpose),
        "context": context,
        "action": (image.params or {}).get("action") or "",
        "decorative": purpose == "decorative",
        "alt_text": image_alt_text(image),
        "extended_description": caption.extended_description if caption is not None and purpose == "complex" else "",
        "source": source,
        "source_label": SOURCE_LABELS.get(source, ""),
        "checks": list(caption.checks or []) if caption is not None and purpose != "decorative" else [],
        "suggestions": suggestions,
        "context_unused_by": unused_by,
        "ocr": {"status": image.ocr_status, "text": image.ocr_text, "confidence": image.ocr_confidence,
                "language": image.ocr_language, "error": image.ocr_error},
    }


# --- The REST API's reads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageFilters:
    """What narrows a search; None (or "") leaves a filter out.

    status: an Image.Status value; needs_review: the current caption is below the review
    threshold (True) or not (False); batch_id: a Batch pk; model_id: the current caption's
    model id (exact); rating: 1..5, the owner's own star rating of the current caption;
    created_after / created_before: aware datetimes, upload time in [after, before)."""

    status: str | None = None
    needs_review: bool | None = None
    batch_id: int | None = None
    model_id: str | None = None
    rating: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    # alt text (captions.services.alttext): the current caption has checker findings (True) or
    # none (False); a person wrote or approved it (True) or not (False); purpose decorative or not
    has_warnings: bool | None = None
    reviewed: bool | None = None
    decorative: bool | None = None


# The Q objects of the alt-text coverage figures and filters, relative to an Image.
_DECORATIVE = Q(params__purpose="decorative")
_HAS_WARNINGS = Q(current_caption__checks__0__isnull=False) & ~_DECORATIVE
_REVIEWED = Q(current_caption__approved_at__isnull=False) | Q(current_caption__source=Caption.Source.HUMAN)
_HAS_ALT = _DECORATIVE | (Q(current_caption__isnull=False) & ~Q(current_caption__text=""))


def _toggle(images: QuerySet[Image], condition: Q, wanted: bool | None) -> QuerySet[Image]:
    if wanted is None:
        return images
    return images.filter(condition) if wanted else images.exclude(condition)


def alt_coverage(images: QuerySet[Image]) -> dict:
    """How much of `images` has good, reviewed alt text, in one query: total, with_alt_text
    (a caption, or decorative: an intended empty alt), reviewed (a person wrote or approved it),
    with_warnings (checker findings on the current caption), decorative, and the share of each."""
    counts = images.order_by().aggregate(
        total=Count("id"),
        with_alt_text=Count("id", filter=_HAS_ALT),
        reviewed=Count("id", filter=_REVIEWED & ~_DECORATIVE),
        with_warnings=Count("id", filter=_HAS_WARNINGS),
        decorative=Count("id", filter=_DECORATIVE),
    )
    total = counts["total"] or 0
    shares = {f"{name}_share": round(counts[name] / total, 4) if total else 0.0
              for name in ("with_alt_text", "reviewed", "with_warnings", "decorative")}
    return {**counts, **shares}


def alt_warning_counts(images: QuerySet[Image]) -> dict[str, int]:
    """How many of `images` have each checker rule's finding on their current caption."""
    counts: dict[str, int] = {}
    for checks in images.filter(_HAS_WARNINGS).values_list("current_caption__checks", flat=True):
        for rule in {c.get("rule") for c in checks or []}:
            counts[rule] = counts.get(rule, 0) + 1
    return dict(sorted(counts.items()))


# ordering name -> (label, ORDER BY). "relevance" ranks by the full-text score (best first) and
# only means something with a query; without one it is "newest".
IMAGE_ORDERINGS = {
    "newest": ("Newest first", ("-created_at", "-id")),
    "oldest": ("Oldest first", ("created_at", "id")),
    "confidence": ("Lowest confidence first", (F("current_caption__confidence").asc(nulls_last=True), "-id")),
    "name": ("File name (A to Z)", ("original_filename", "id")),
    "relevance": ("Best match first", ("-created_at", "-id")),
}


def _full_text_match(images: QuerySet[Image], terms: list[str]) -> QuerySet[Image]:
    """The images whose file name or caption text holds every term (as a word prefix), annotated
    with `search_rank` (higher is better) on either database; see captions.search."""
    from captions.search import fts5_match, tsquery_raw

    vendor = connection.vendor
    if vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank

        query = SearchQuery(tsquery_raw(terms), search_type="raw", config="simple")
        return images.filter(search_document=query).annotate(search_rank=SearchRank(F("search_document"), query))
    if vendor == "sqlite":
        # ONE FTS5 query joined to the images (rowid = Image.id), ranked by bm25() of that same
        # query: a correlated MATCH per matching row grows with the table (seconds at 100k rows).
        # bm25() is lower for a better match: negated, so that higher is better on both databases.
        return images.extra(  # noqa: S610 - the MATCH text is a bound parameter (captions.search.fts5_match)
            tables=["captions_image_fts"],
            where=["captions_image_fts.rowid = captions_image.id", "captions_image_fts MATCH %s"],
            params=[fts5_match(terms)],
            select={"search_rank": "-bm25(captions_image_fts)"},
        )
    # Any other database: a plain case-insensitive containment of every term.
    for term in terms:
        images = images.filter(Q(original_filename__icontains=term) | Q(captions__text__icontains=term)).distinct()
    return images.annotate(search_rank=Value(0.0, output_field=FloatField()))


def images_bounded(images: QuerySet[Image], limit: int) -> QuerySet[Image]:
    """A search result as a plain query over at most `limit` + 1 of its images, oldest first: what
    a selection ("all N matching") acts on. Plain, because the SQLite full-text join names its
    table in raw SQL, which Django cannot rename when the query becomes a subquery or an UPDATE;
    one more than `limit`, so that a caller's "at most `limit`" check still sees an oversized one."""
    ids = list(images.values_list("pk", flat=True)[: limit + 1])
    return Image.objects.filter(pk__in=ids).order_by("created_at", "id")


SEARCH_MODES = {
    "keyword": "Keyword (every word must appear)",
    "semantic": "Semantic (similar meaning)",
    "combined": "Combined (keyword and meaning)",
}
# Semantic search: the images whose alt text is at least this similar to the query (cosine of
# all-MiniLM-L6-v2 vectors), the most similar SEMANTIC_TOP_K of them.
SEMANTIC_MIN_SIMILARITY = 0.25
SEMANTIC_TOP_K = 200
SEMANTIC_CHUNK = 5000  # vectors read and scored at a time: memory stays bounded for any gallery
RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al.)
KEYWORD_FUSION_LIMIT = 1000  # keyword matches that take part in the fusion


def search_modes_available() -> dict[str, str]:
    """SEARCH_MODES, or only keyword where semantic search is turned off."""
    if settings.SEARCH_SEMANTIC_ENABLED:
        return dict(SEARCH_MODES)
    return {"keyword": SEARCH_MODES["keyword"]}


class SemanticSearchUnavailable(ValueError):
    """Semantic search is turned off on this server (SEARCH_SEMANTIC_ENABLED)."""


def search_mode_default(user) -> str:
    """combined where semantic search is on and the user has vectors; keyword otherwise."""
    from captions.models import ImageEmbedding

    if settings.SEARCH_SEMANTIC_ENABLED and ImageEmbedding.objects.filter(image__owner=user).exists():
        return "combined"
    return "keyword"


def _semantic_ranking(images: QuerySet[Image], query: str) -> list[tuple[int, float]]:
    """(image id, cosine) of the images most similar to `query`, best first: exact cosine over
    the stored vectors with numpy, SEMANTIC_CHUNK vectors at a time (see docs/search.md for the
    measured cost per 10k vectors). ModelLoadError when the query cannot be embedded."""
    import numpy as np

    from captions.models import ImageEmbedding
    from mlcore import embeddings

    query_vector = embeddings.embed_one(query, settings.SEARCH_EMBEDDING_MODEL_DIR or None)
    rows = (
        ImageEmbedding.objects.filter(image__in=images.order_by().values("pk"), model_name=embeddings.MODEL_NAME)
        .order_by().values_list("image_id", "vector")
    )
    best_ids = np.zeros(0, dtype=np.int64)
    best_scores = np.zeros(0, dtype=np.float32)
    ids, blobs = [], []

    def flush():
        nonlocal best_ids, best_scores
        if not ids:
            return
        matrix = np.frombuffer(b"".join(bytes(b) for b in blobs), dtype="<f4").reshape(len(ids), -1)
        scores = matrix @ query_vector
        keep = scores >= SEMANTIC_MIN_SIMILARITY
        best_ids = np.concatenate([best_ids, np.asarray(ids, dtype=np.int64)[keep]])
        best_scores = np.concatenate([best_scores, scores[keep]])
        if len(best_ids) > SEMANTIC_TOP_K:
            top = np.argpartition(-best_scores, SEMANTIC_TOP_K)[:SEMANTIC_TOP_K]
            best_ids, best_scores = best_ids[top], best_scores[top]
        ids.clear()
        blobs.clear()

    for image_id, blob in rows.iterator(chunk_size=SEMANTIC_CHUNK):
        if len(blob) != embeddings.DIMENSIONS * 4:
            continue  # a vector of another size (another model): never compared
        ids.append(image_id)
        blobs.append(blob)
        if len(ids) >= SEMANTIC_CHUNK:
            flush()
    flush()
    return sorted(zip(best_ids.tolist(), best_scores.tolist(), strict=True), key=lambda p: (-p[1], -p[0]))


def _ranked(images: QuerySet[Image], ranking: list[tuple[int, float]]) -> QuerySet[Image]:
    """The images of `ranking` ((id, score) best first), annotated with `search_rank` = score."""
    from django.db.models import Case, When

    if not ranking:
        return images.none().annotate(search_rank=Value(0.0, output_field=FloatField()))
    return images.filter(pk__in=[pk for pk, _ in ranking]).annotate(
        search_rank=Case(
            *(When(pk=pk, then=Value(float(score))) for pk, score in ranking),
            default=Value(0.0), output_field=FloatField(),
        )
    )


def _fused(keyword: list[int], semantic: list[int]) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of two rankings (ids best first): score = sum of 1 / (RRF_K + rank)."""
    scores: dict[int, float] = {}
    for ranking in (keyword, semantic):
        for rank, pk in enumerate(ranking, start=1):
            scores[pk] = scores.get(pk, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda p: (-p[1], -p[0]))


def images_search_for(
    user, query: str = "", filters: ImageFilters | None = None, ordering: str = "newest", mode: str = ""
) -> QuerySet[Image]:
    """The user's images that match `query` (full text over file names and every caption's text,
    human corrections included: each word must appear, as a word prefix, case and accents
    ignored) and `filters`, in `ordering` (a key of IMAGE_ORDERINGS; ValueError for another).
    An empty query (or one without any word) leaves the text out. The engine is FTS5 on SQLite and
    PostgreSQL's tsvector/GIN on PostgreSQL (captions.search); no query can make it fail.

    `mode` (a key of SEARCH_MODES; "" for search_mode_default): keyword is the full-text search
    above; semantic finds the images whose current alt text (+ OCR text) means something similar
    (stored all-MiniLM-L6-v2 vectors, captions.services.embeddings), and combined fuses both
    rankings (reciprocal rank fusion); `search_rank` is the cosine or the fused score.
    SemanticSearchUnavailable when semantic search is off; mlcore's ModelLoadError when the query
    cannot be embedded."""
    from captions.search import search_terms

    if ordering not in IMAGE_ORDERINGS:
        raise ValueError(f"Unknown ordering {ordering!r}; use one of {', '.join(IMAGE_ORDERINGS)}.")
    if mode and mode not in SEARCH_MODES:
        raise ValueError(f"Unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}.")
    if mode in ("semantic", "combined") and not settings.SEARCH_SEMANTIC_ENABLED:
        raise SemanticSearchUnavailable("Semantic search is turned off on this server; use the keyword mode.")
    filters = filters or ImageFilters()
    images = gallery_images_for(user)
    if filters.status:
        images = images.filter(status=filters.status)
    if filters.needs_review is not None:
        images = images.filter(current_caption__needs_review=True) if filters.needs_review else images.exclude(
            current_caption__needs_review=True
        )
    if filters.batch_id is not None:
        images = images.filter(batch_id=filters.batch_id)
    if filters.model_id:
        images = images.filter(current_caption__model_id=filters.model_id)
    if filters.rating is not None:
        # The rating lives in the feedback app; this reads it through the ORM relation only.
        images = images.filter(
            current_caption__feedback__user=user, current_caption__feedback__rating=filters.rating
        )
    if filters.created_after is not None:
        images = images.filter(created_at__gte=filters.created_after)
    if filters.created_before is not None:
        images = images.filter(created_at__lt=filters.created_before)
    images = _toggle(images, _HAS_WARNINGS, filters.has_warnings)
    images = _toggle(images, _REVIEWED, filters.reviewed)
    images = _toggle(images, _DECORATIVE, filters.decorative)
    terms = search_terms(query)
    if terms and (mode or search_mode_default(user)) != "keyword":
        mode = mode or search_mode_default(user)
        semantic = _semantic_ranking(images, " ".join(str(query).split()))
        if mode == "combined":
            keyword = list(_full_text_match(images, terms).order_by("-search_rank", "-created_at", "-id")
                           .values_list("pk", flat=True)[:KEYWORD_FUSION_LIMIT])
            ranking = _fused(keyword, [pk for pk, _ in semantic])
        else:
            ranking = semantic
        images = _ranked(images, ranking)
        if ordering == "relevance":
            return images.order_by("-search_rank", "-created_at", "-id")
        return images.order_by(*IMAGE_ORDERINGS[ordering][1])
    if terms:
        images = _full_text_match(images, terms)
        if ordering == "relevance":
            return images.order_by("-search_rank", "-created_at", "-id")
    return images.order_by(*IMAGE_ORDERINGS[ordering][1])


def image_model_choices_for(user) -> list[str]:
    """The model ids of the user's current captions, sorted (the search form's model filter)."""
    return sorted(
        m for m in Caption.objects.filter(image__owner=user, image__current_caption=F("pk"))
        .order_by().values_list("model_id", flat=True).distinct() if m  # no Meta.ordering: one row per model
    )


def batches_for(user) -> QuerySet[Batch]:
    """The user's batches, newest first, each with `n_total`, `n_queued`, `n_processing`,
    `n_done`, `n_failed` image counts and `n_needs_review` (captions below the review
    threshold), in one query."""
    return Batch.objects.filter(owner=user).annotate(
        n_total=Count("images"),
        n_needs_review=Count("images", filter=Q(images__current_caption__needs_review=True)),
        **{f"n_{status}": Count("images", filter=Q(images__status=status)) for status in Image.Status.values},
    ).order_by("-created_at", "-id")


def batch_for(user, batch_id: int) -> Batch:
    """One of the user's batches; anybody else's is a 404."""
    return get_object_or_404(Batch, owner=user, pk=batch_id)


def batch_progress(batch: Batch) -> dict:
    """How many of the batch's images are in each status, and how many captions need review."""
    counts = {status: 0 for status in Image.Status.values}
    for row in batch.images.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    total = sum(counts.values())
    return {
        "total": total,
        "counts": counts,
        "finished": counts[Image.Status.QUEUED] + counts[Image.Status.PROCESSING] == 0,
        "needs_review": batch.images.filter(current_caption__needs_review=True).count(),
        "coverage": alt_coverage(batch.images.all()),
    }


def batch_export_rows(batch: Batch) -> list[dict]:
    """One row per image of the batch, in upload order: the alt-text export."""
    return images_export_rows(batch.images.all())


def images_export_rows(images: QuerySet[Image]) -> list[dict]:
    """One row per image, in upload order: {"id": str uuid, "filename", "status", "caption"
    (the current caption's text: a human correction once there is one; "" until captioned),
    "confidence" (float or None)}."""
    from captions.alttext import caption_source, image_alt_text, image_context, image_purpose

    rows = []
    for image in images.select_related("current_caption").order_by("created_at", "id"):
        purpose = image_purpose(image)
        caption = image.current_caption if purpose != "decorative" else None
        rows.append(
            {
                "id": str(image.public_id),
                "filename": image.original_filename,
                "status": image.status,
                "caption": image_alt_text(image),
                "purpose": purpose,
                "decorative": purpose == "decorative",
                "context": image_context(image),
                "extended_description": caption.extended_description if caption else "",
                "source": caption_source(caption),
                "reviewed": bool(caption and (caption.approved_at or caption.source == Caption.Source.HUMAN)),
                "warnings": "; ".join(c.get("rule", "") for c in (caption.checks or [])) if caption else "",
                "ocr_text": image.ocr_text,
                "confidence": round(caption.confidence, 3) if caption and caption.confidence is not None else None,
                "style": caption.style if caption else (image.params or {}).get("style", "alt"),
                "language": caption.language if caption else (image.params or {}).get("language", "en"),
                "tags": list(caption.tags) if caption and caption.tags is not None else None,
            }
        )
    return rows


# Caption styles whose text is an extended description (IPTC Extended Description
# (Accessibility)), not alt text: an image's newest caption of such a style goes into
# ExtDescrAccessibility when its files are exported with metadata.
EXTENDED_DESCRIPTION_STYLES = frozenset({"extended"})


@dataclass(frozen=True)
class EmbedItem:
    """One image of an export with metadata: its stored file, uploaded name and format, and what
    to write (alt_text: language -> text, primary: the current caption's language, extended:
    language -> extended description). alt_text is empty while the image has no caption;
    needs_review is the current caption's flag (False without one)."""

    image: Image
    alt_text: dict[str, str]
    primary: str
    extended: dict[str, str]
    needs_review: bool


def images_embed_items(images: QuerySet[Image]):
    """The images (in upload order) as EmbedItems, read in chunks so a large export holds a few
    hundred rows at a time. Per language the newest caption of the current caption's style
    (a person's correction is a newer caption: it wins); x-default is the current caption."""
    queryset = images.select_related("current_caption").order_by("created_at", "id")
    for image in queryset.iterator(chunk_size=200):
        current = image.current_caption
        alt_text: dict[str, str] = {}
        extended: dict[str, str] = {}
        if current is not None:
            alt_text[current.language] = current.text
            if current.extended_description:
                extended[current.language] = current.extended_description
            rows = image.captions.order_by("-created_at", "-id").values_list("language", "style", "text")
            for language, style, text in rows:
                if style in EXTENDED_DESCRIPTION_STYLES:
                    extended.setdefault(language, text)
                elif style == current.style:
                    alt_text.setdefault(language, text)
        yield EmbedItem(
            image=image,
            alt_text=alt_text,
            primary=current.language if current else "",
            extended=extended,
            needs_review=bool(current and current.needs_review),
        )


def image_wait_final(image: Image, *, timeout_seconds: float, poll_seconds: float = 0.1) -> Image | None:
    """The image once a worker has finished it, or as it stands when the time is up; None when
    it was deleted meanwhile. Reads the database only (the web process never captions)."""
    deadline = time.monotonic() + max(0.0, timeout_seconds)
    interval = poll_seconds
    while True:
        status = Image.objects.filter(pk=image.pk).values_list("status", flat=True).first()
        if status is None:
            return None
        remaining = deadline - time.monotonic()
        if status in Image.FINAL_STATUSES or remaining <= 0:
            break
        time.sleep(min(interval, remaining))
        interval = min(interval * 1.5, 1.0)
    return Image.objects.select_related("current_caption").filter(pk=image.pk).first()


async def image_await_final(image: Image, *, timeout_seconds: float, poll_seconds: float = 0.1) -> Image | None:
    """``image_wait_final`` for async views: the same polling of the database (0.1 s, growing to
    1 s between reads), awaiting ``asyncio.sleep`` in between, so a waiting request holds no
    thread of the web server (under ASGI) while the worker captions. None when deleted."""
    import asyncio

    deadline = time.monotonic() + max(0.0, timeout_seconds)
    interval = poll_seconds
    while True:
        status = await Image.objects.filter(pk=image.pk).values_list("status", flat=True).afirst()
        if status is None:
            return None
        remaining = deadline - time.monotonic()
        if status in Image.FINAL_STATUSES or remaining <= 0:
            break
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 1.5, 1.0)
    return await Image.objects.select_related("current_caption").filter(pk=image.pk).afirst()


def demo_image_for(public_id) -> Image:
    """A demo upload by its id (the id is the only key an anonymous caller has)."""
    return get_object_or_404(
        Image.objects.select_related("current_caption", "owner"),
        owner__email=settings.DEMO_USER_EMAIL.lower(),
        public_id=public_id,
    )


# --- The gallery's progress poll ------------------------------------------------------------------


def unfinished_work_for(user, *, since=None) -> dict:
    """{"total", "finished", "captioned", "failed", "since"}: the user's images uploaded since `since` (a
    datetime; by default the start of the oldest upload that still has a queued or processing
    image), so "finished of total finished: captioned, failed" says how far the work under way has got. The gallery
    keeps the same `since` while it polls, so the total stays put as images finish. All zero and
    since None when nothing is under way and no `since` is given."""
    if since is None:
        oldest = (
            Image.objects.filter(owner=user).exclude(status__in=Image.FINAL_STATUSES)
            .select_related("batch").order_by("created_at").first()
        )
        if oldest is None:
            return {"total": 0, "finished": 0, "captioned": 0, "failed": 0, "since": None}
        since = oldest.batch.created_at if oldest.batch else oldest.created_at
    scope = Image.objects.filter(owner=user, created_at__gte=since)
    counts = {row["status"]: row["n"] for row in scope.order_by().values("status").annotate(n=Count("id"))}
    done, failed = counts.get(Image.Status.DONE, 0), counts.get(Image.Status.FAILED, 0)
    return {"total": sum(counts.values()), "finished": done + failed, "captioned": done, "failed": failed, "since": since}


def images_by_public_id_for(user, public_ids) -> QuerySet[Image]:
    """The user's images among the given public ids (others' are silently absent)."""
    return gallery_images_for(user).filter(public_id__in=list(public_ids))


def images_stale_processing() -> QuerySet[Image]:
    """Images in `processing` claimed more than CAPTION_STALE_PROCESSING_SECONDS ago. Leases are
    renewed while a batch is worked on and the sweep requeues expired ones every minute, so any
    such image means a stuck worker or a stopped scheduler (readiness and /metrics report them)."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    cutoff = timezone.now() - timedelta(seconds=settings.CAPTION_STALE_PROCESSING_SECONDS)
    return Image.objects.filter(status=Image.Status.PROCESSING, claimed_at__lt=cutoff)
