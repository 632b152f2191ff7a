import csv
import json
import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from captions.embedding import read_found_text
from captions.imaging import ImageRejected, decode_image
from captions.params import caption_request_parse
from captions.selectors import captioning_defaults
from core import spreadsheet
from core.spreadsheet import safe_cell, unescape_cell
from mlcore.alttext import check_alt_text

FIELDS = [
    "file", "status", "caption", "confidence", "model_id", "model_version", "inference_ms", "reason",
    "style", "language", "tags", "purpose", "extended_description", "warnings", "file_alt_text",
    "file_alt_text_field",
]
FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl"}


class Command(BaseCommand):
    help = (
        "Caption every image of a local folder (and its subfolders) in batches, with a progress bar. "
        "Files that are not images are listed as skipped, with the reason; images the model gave no words "
        "for are listed as failed, with the reason (exit status 1). Run it again with the same --out to "
        "resume: files already captioned or skipped are not captioned again, failed ones are."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", help="the folder of images")
        parser.add_argument("--out", required=True, help="output file: .csv, .json or .jsonl")
        parser.add_argument("--model", help="registry name, folder or hub id (default: the active model, else CAPTION_MODEL)")
        parser.add_argument("--params", action="append", help='generation parameters: JSON or key=value[,key=value]')
        parser.add_argument("--style", help="caption style: alt (default), description, tags or a custom style")
        parser.add_argument("--language", help="BCP 47 language of the captions (e.g. fr, pt-BR); default en")
        parser.add_argument("--purpose", help="what the images are for: informative (default), decorative (no model "
                            "call, empty alt text), functional, complex (adds an extended description) or text")
        parser.add_argument("--context", help="where the images appear (page title, paragraph, product, keywords); "
                            "models that take a prompt use it")
        parser.add_argument("--action", help="for --purpose functional: what the link or button does")
        parser.add_argument("--batch-size", type=int, help="images per model call (default: CAPTION_BATCH_SIZE)")
        parser.add_argument("--no-recursive", action="store_true", help="only the folder itself, not subfolders")

    def handle(
        self, *args, folder, out, model=None, params=None, batch_size=None, no_recursive=False,
        style=None, language=None, purpose=None, context=None, action=None, **options,
    ):
        from tqdm import tqdm

        import mlcore

        root = Path(folder)
        if not root.is_dir():
            raise CommandError(f"{root} is not a folder.")
        out_path = Path(out)
        fmt = FORMATS.get(out_path.suffix.lower())
        if fmt is None:
            raise CommandError(f"--out must end in .csv, .json or .jsonl, not {out_path.suffix or '(none)'}.")
        batch_size = batch_size or settings.CAPTION_BATCH_SIZE
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        # The request, checked once before minutes of model loading (the style and language
        # against the model too, without loading it).
        caption_request = caption_request_parse(params, model=model, style=style, language=language,
                                                purpose=purpose, context=context, action=action)
        generation = caption_request.params
        output = OutputFile(out_path, fmt)
        done = output.load()

        files = sorted(_files_under(root, recursive=not no_recursive, exclude=out_path))
        todo = [path for path in files if _relative(path, root) not in done]
        if len(todo) < len(files):
            self.stdout.write(f"Resuming: {len(files) - len(todo)} of {len(files)} files are already in {out_path}.")
        if not todo:
            self.stdout.write(self.style.SUCCESS(f"Nothing to do: every file of {root} is in {out_path}."))
            return

        if generation.purpose == "decorative":  # no model call: every image's alt text is empty
            rows = [_row(_relative(path, root), status="ok", purpose="decorative") for path in todo]
            output.append(rows)
            self.stdout.write(self.style.SUCCESS(f"{len(rows)} decorative (empty alt text) -> {out_path}"))
            return

        spec = caption_request.model_spec or captioning_defaults().model_spec
        try:
            captioner = mlcore.load_captioner(spec, device=settings.CAPTION_DEVICE, dtype=settings.CAPTION_DTYPE)
        except mlcore.ModelLoadError as error:
            raise CommandError(str(error)) from None

        counts = {"ok": 0, "skipped": 0, "failed": 0}
        target = mlcore.images.captioner_target_size(captioner)  # decode only as large as the model needs
        progress = tqdm(total=len(todo), unit="img", desc="caption", file=sys.stderr, disable=options["verbosity"] == 0)
        try:
            for start in range(0, len(todo), batch_size):
                chunk = todo[start : start + batch_size]
                rows, names, images, found = [], [], [], {}
                for path in chunk:
                    name = _relative(path, root)
                    try:
                        images.append(decode_image(path.read_bytes(), max_pixels=settings.MAX_IMAGE_PIXELS, target_size=target).image)
                        names.append(name)
                        found[name] = _file_alt_text(path)
                    except (ImageRejected, OSError) as error:
                        rows.append(_row(name, status="skipped", reason=str(error)))
                        progress.write(f"skipped {name}: {error}")
                if images:
                    try:
                        results = captioner.caption(images, generation)
                    except Exception as error:
                        # Not written to the output, so the next run tries these files again.
                        counts["failed"] += len(names)
                        progress.write(f"failed {len(names)} files ({', '.join(names[:3])}...): {error}")
                    else:
                        descriptions = _descriptions(captioner, images, generation, results)
                        for name, result, description in zip(names, results, descriptions, strict=True):
                            if not result.ok:  # no words (e.g. a tags answer with nothing usable)
                                reason = _empty_reason(result)
                                rows.append(_row(name, status="failed", reason=reason, model_id=result.model_id, **found[name],
                                                 model_version=result.model_version, style=result.style,
                                                 language=result.language))
                                progress.write(f"failed {name}: {reason}")
                                continue
                            rows.append(
                                _row(
                                    name,
                                    status="ok",
                                    caption=result.text,
                                    confidence=round(float(result.confidence), 4),
                                    model_id=result.model_id,
                                    model_version=result.model_version,
                                    inference_ms=round(float(result.timings.get("total_ms", 0.0)), 1),
                                    style=result.style,
                                    language=result.language,
                                    tags=_tags_value(result.tags, fmt),
                                    purpose=generation.purpose,
                                    extended_description=description,
                                    warnings="; ".join(f.rule for f in check_alt_text(
                                        result.text, purpose=generation.purpose, filename=name)),
                                    **found[name],
                                )
                            )
                output.append(rows)
                for row in rows:
                    counts[row["status"]] += 1
                progress.update(len(chunk))
        finally:
            progress.close()

        summary = f"{counts['ok']} captioned, {counts['skipped']} skipped (not images), {counts['failed']} failed -> {out_path}"
        if counts["failed"]:
            raise CommandError(f"{summary}. Run the same command again to retry the failed files.")
        self.stdout.write(self.style.SUCCESS(summary))


def _empty_reason(result) -> str:
    """Why a result with ``ok`` False is no caption: mlcore's error and the model's raw output."""
    reason = (result.details or {}).get("error") or "the model produced no words for this image"
    raw = " ".join((result.raw_text or "").split())
    return f"{reason} (raw output {raw[:120]!r})" if raw else reason


def _files_under(root: Path, *, recursive: bool, exclude: Path):
    excluded = exclude.resolve()
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".")) if recursive else []
        for name in names:
            path = Path(directory) / name
            if not name.startswith(".") and path.is_file() and path.resolve() != excluded:
                yield path


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _descriptions(captioner, images, generation, results) -> list[str]:
    """For --purpose complex, the extended description of each captioned image (a second call in
    the description style; "" where the model cannot write it)."""
    from mlcore.params import InvalidParams

    if generation.purpose != "complex":
        return [""] * len(images)
    params = generation.replace(style="description", num_alternatives=1)
    try:
        captioner.check_style(params)
    except (InvalidParams, AttributeError):
        return [""] * len(images)
    wanted = [i for i, r in enumerate(results) if r.ok]
    texts = [""] * len(images)
    for index, found in zip(wanted, captioner.caption([images[i] for i in wanted], params), strict=True):
        texts[index] = found.text if found.ok else ""
    return texts


def _tags_value(tags, fmt: str):
    if tags is None:
        return ""
    return "; ".join(tags) if fmt == "csv" else list(tags)


def _csv_safe(row: dict) -> dict:
    """Cells a spreadsheet would run as a formula (file names and captions are text from outside)
    escaped as every CSV of the site is (core.spreadsheet)."""
    return {key: safe_cell(row.get(key)) for key in FIELDS}


def _file_alt_text(path: Path) -> dict:
    """The alt text (or description) embedded in the file, and the field it came from."""
    with path.open("rb") as handle:
        found = read_found_text(handle)
    alt_text = found.alt_text.get("x-default") or next(iter(found.alt_text.values()), "")
    if alt_text:
        return {"file_alt_text": alt_text, "file_alt_text_field": "IPTC Alt Text (Accessibility)"}
    return {"file_alt_text": found.description, "file_alt_text_field": found.description_field}


def _row(name: str, **values) -> dict:
    row = dict.fromkeys(FIELDS, "")
    row["file"] = name
    row.update(values)
    return row


class OutputFile:
    """The output, written after every batch so that an interrupted run loses one batch at most."""

    def __init__(self, path: Path, fmt: str):
        self.path = path
        self.fmt = fmt
        self.rows: list[dict] = []

    def load(self) -> set[str]:
        """The files already in the output (captioned or skipped), for resuming."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return set()
        try:
            if self.fmt == "csv":
                self._trim_partial_line()
                with self.path.open(newline="", encoding="utf-8") as handle:
                    reader = csv.DictReader(handle)
                    if reader.fieldnames and reader.fieldnames != FIELDS:
                        raise CommandError(
                            f"{self.path} has other columns than this command writes; choose another --out."
                        )
                    self.rows = [{key: unescape_cell(value) for key, value in row.items()}
                                 for row in reader if row.get("status")]
            elif self.fmt == "jsonl":
                self._trim_partial_line()
                with self.path.open(encoding="utf-8") as handle:
                    self.rows = [json.loads(line) for line in handle if line.strip()]
            else:
                text = self.path.read_text(encoding="utf-8")
                self.rows = json.loads(text) if text.strip() else []
                if not isinstance(self.rows, list):
                    raise CommandError(f"{self.path} is not a JSON list of rows; choose another --out.")
        except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as error:
            raise CommandError(f"{self.path} exists but cannot be read to resume ({error}); choose another --out.") from None
        failed = [row for row in self.rows if isinstance(row, dict) and row.get("status") == "failed"]
        if failed:  # tried again by this run: their rows go, the new outcome is appended
            self.rows = [row for row in self.rows if row not in failed]
            self._rewrite()
        return {row["file"] for row in self.rows if isinstance(row, dict) and row.get("file")}

    def _rewrite(self) -> None:
        """The output holding exactly self.rows, replaced atomically."""
        partial = self.path.with_name(self.path.name + ".partial")
        if self.fmt == "csv":
            with partial.open("w", newline="", encoding="utf-8") as handle:
                writer = spreadsheet.DictWriter(handle, fieldnames=FIELDS)
                writer.writeheader()
                writer.writerows(_csv_safe(row) for row in self.rows)
        elif self.fmt == "jsonl":
            partial.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self.rows), encoding="utf-8")
        else:
            partial.write_text(json.dumps(self.rows, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.path)

    def append(self, rows: list[dict]) -> None:
        if not rows:
            return
        if self.fmt == "csv":
            new = not self.path.exists() or self.path.stat().st_size == 0
            with self.path.open("a", newline="", encoding="utf-8") as handle:
                writer = spreadsheet.DictWriter(handle, fieldnames=FIELDS)
                if new:
                    writer.writeheader()
                writer.writerows(_csv_safe(row) for row in rows)
        elif self.fmt == "jsonl":
            with self.path.open("a", encoding="utf-8") as handle:
                handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        else:
            self.rows.extend(rows)
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps(self.rows, indent=1, ensure_ascii=False), encoding="utf-8")
            os.replace(partial, self.path)  # atomic: the file is always a whole JSON list

    def _trim_partial_line(self) -> None:
        """A run killed while writing can leave half a line; drop it so the next rows line up."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])
