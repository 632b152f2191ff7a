"""Batches: files and .zip archives (checked member by member, bomb- and traversal-safe),
progress by status and the alt-text export."""

import csv
import io
import stat
import zipfile

import pytest
from django.urls import reverse

from captions.models import Batch, Caption, Image
from captions.services.submission import batch_submit
from tests.api.conftest import assert_error_format, run_worker_once
from tests.images import image_bytes, upload
from tests.upload.test_upload import stored_files

pytestmark = pytest.mark.django_db

BATCHES = "/api/v1/batches/"


def make_zip(members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def post_batch(client, *files, **fields):
    return client.post(BATCHES, {"files": list(files), **fields}, format="multipart")


def zip_upload(members: dict[str, bytes], name="photos.zip"):
    return upload(name, make_zip(members), "application/zip")


def filenames(batch_id) -> list[str]:
    return sorted(Image.objects.filter(batch_id=batch_id).values_list("original_filename", flat=True))


def test_files_form_a_batch_even_a_single_one(authed, user):
    response = post_batch(authed, upload("one.jpg", image_bytes("JPEG")), name="holiday")
    assert response.status_code == 202
    batch = Batch.objects.get(pk=response.json()["batch"])
    assert batch.owner == user and batch.name == "holiday"
    assert filenames(batch.pk) == ["one.jpg"]


def test_a_zip_of_images_is_unpacked_into_the_batch_with_files_beside_it(api):
    archive = zip_upload(
        {
            "a.jpg": image_bytes("JPEG"),
            "nested/dir/b.png": image_bytes("PNG"),
            "nested/": b"",
            "__MACOSX/._a.jpg": b"junk",
            ".DS_Store": b"junk",
        }
    )
    response = post_batch(api, archive, upload("c.webp", image_bytes("WEBP")), num_beams="2")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["refused"] == []
    assert filenames(body["batch"]) == ["a.jpg", "c.webp", "nested/dir/b.png"]  # the archive's folders are kept
    assert all(p["num_beams"] == 2 for p in Image.objects.values_list("params", flat=True))


def test_members_keep_their_folders_so_same_named_photos_stay_apart_in_the_export(api):
    archive = zip_upload({
        "trip/day1/IMG_0001.JPG": image_bytes("JPEG"),
        "trip/day2/IMG_0001.JPG": image_bytes("JPEG", color=(9, 9, 9)),
        "./trip//notes.txt": b"not an image",
        "x" * 200 + "/" + "y" * 100 + "/deep.png": image_bytes("PNG"),
    })
    body = post_batch(api, archive).json()
    assert filenames(body["batch"]) == ["trip/day1/IMG_0001.JPG", "trip/day2/IMG_0001.JPG", "y" * 100 + "/deep.png"]
    assert [r["filename"] for r in body["refused"]] == ["trip/notes.txt"]
    html = api.get(reverse("api:batch-export", args=[body["batch"]]), {"format": "html"}).content.decode()
    assert '<img src="trip/day1/IMG_0001.JPG"' in html and '<img src="trip/day2/IMG_0001.JPG"' in html
    # a file sent directly keeps only its base name, whatever path the client put in front of it
    direct = post_batch(api, upload("C:\\fakepath\\direct.jpg", image_bytes("JPEG", color=(3, 3, 3))))
    assert filenames(direct.json()["batch"]) == ["direct.jpg"]


def test_the_html_export_src_is_a_relative_url_that_resolves_to_the_member_path(api):
    """A file name is not a URL: `#` starts a fragment, `?` a query, `%` an escape, a space is not
    allowed, and `name:` at the start reads as a URL scheme. Each src must lead, from the page,
    to the file at the member's path."""
    import html as html_lib
    from urllib.parse import unquote, urljoin, urlsplit

    paths = ["day 1/#1 sunset?.jpg", "100%.jpg", "photo:1/é.png"]
    archive = zip_upload({p: image_bytes("JPEG", color=(n, n, n)) for n, p in enumerate(paths)})
    body = post_batch(api, archive).json()
    assert filenames(body["batch"]) == sorted(paths)
    text = api.get(reverse("api:batch-export", args=[body["batch"]]), {"format": "html"}).content.decode()
    srcs = [html_lib.unescape(line.split('src="', 1)[1].split('"', 1)[0]) for line in text.splitlines()]
    base = "https://example.org/site/page.html"
    resolved = sorted(unquote(urlsplit(urljoin(base, src)).path) for src in srcs)
    assert resolved == sorted("/site/" + p for p in paths), srcs
    assert all(urlsplit(urljoin(base, src))[3:] == ("", "") for src in srcs)  # no query, no fragment
    assert any("é" in src for src in srcs)  # readable: letters stay letters


def test_a_bad_member_is_refused_by_name_and_the_others_go_on(api, settings):
    archive = zip_upload({"good.jpg": image_bytes("JPEG"), "notes.txt": b"hello", "cut.png": image_bytes("PNG")[:40]})
    response = post_batch(api, archive)
    assert response.status_code == 202
    body = response.json()
    assert filenames(body["batch"]) == ["good.jpg"]
    reasons = {r["filename"]: r["reason"] for r in body["refused"]}
    assert set(reasons) == {"notes.txt", "cut.png"}
    assert "Not a supported image" in reasons["notes.txt"]
    assert len(stored_files(settings)) == 2


@pytest.mark.parametrize("evil", ["../escape.jpg", "a/../../escape.jpg", "/etc/escape.jpg", "C:/escape.jpg", "..\\escape.jpg"])
def test_members_whose_names_leave_the_archive_are_refused(api, settings, tmp_path, evil):
    archive = zip_upload({evil: image_bytes("JPEG"), "fine.jpg": image_bytes("JPEG", color=(1, 1, 1))})
    response = post_batch(api, archive)
    assert response.status_code == 202
    body = response.json()
    assert [r["filename"] for r in body["refused"]] == [f"photos.zip/{evil}"]
    assert "outside the archive" in body["refused"][0]["reason"]
    assert filenames(body["batch"]) == ["fine.jpg"]
    # Nothing was written outside the media folder, nor under a member's name anywhere.
    assert not list(tmp_path.parent.rglob("escape.jpg"))
    assert all("escape" not in str(p) for p in stored_files(settings))


def test_a_zip_with_only_traversal_names_is_a_400(api):
    response = post_batch(api, zip_upload({"../../x.jpg": image_bytes("JPEG")}))
    body = assert_error_format(response, 400, field="files")
    assert body["refused"][0]["filename"] == "photos.zip/../../x.jpg"
    assert not Image.objects.exists() and not Batch.objects.exists()


def test_symlink_members_are_refused(api):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("link.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("ok.jpg", image_bytes("JPEG"))
    response = post_batch(api, upload("links.zip", buffer.getvalue()))
    assert response.status_code == 202
    assert "Links" in response.json()["refused"][0]["reason"]


def test_a_zip_bomb_member_is_refused_without_unpacking_it_whole(api, settings):
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    bomb = b"\0" * (50 * 1024 * 1024)  # 50 MiB of zeros: about 50 KB compressed
    archive = make_zip({"bomb.bmp": bomb, "ok.jpg": image_bytes("JPEG")})
    assert len(archive) < 200_000
    response = post_batch(api, upload("bomb.zip", archive))
    assert response.status_code == 202
    refused = response.json()["refused"]
    assert refused == [{"filename": "bomb.zip/bomb.bmp", "reason": "The file is larger than the 1 MiB limit."}]


def test_a_member_that_lies_about_its_size_is_still_capped(api, settings):
    settings.MAX_UPLOAD_BYTES = 100_000
    archive = bytearray(make_zip({"liar.bmp": b"\0" * 1_000_000}, compression=zipfile.ZIP_DEFLATED))
    # Patch the sizes in the central directory and the local header to claim 10 bytes.
    central = archive.rfind(b"PK\x01\x02")
    archive[central + 24 : central + 28] = (10).to_bytes(4, "little")
    archive[22:26] = (10).to_bytes(4, "little")
    response = post_batch(api, upload("liar.zip", bytes(archive)))
    body = assert_error_format(response, 400, field="files")
    assert body["refused"][0]["filename"] == "liar.zip/liar.bmp"
    assert not Image.objects.exists()


def test_an_unreadable_zip_is_refused_by_name(api):
    response = post_batch(api, upload("broken.zip", b"PK\x03\x04" + b"\0" * 100), upload("ok.jpg", image_bytes("JPEG")))
    assert response.status_code == 202
    refused = response.json()["refused"]
    assert refused[0]["filename"] == "broken.zip" and "not a readable zip" in refused[0]["reason"]


def test_a_zip_with_more_members_than_a_batch_holds_is_a_400(api, settings):
    settings.MAX_FILES_PER_UPLOAD = 3
    archive = zip_upload({f"{i}.png": image_bytes("PNG", color=(i, 0, 0)) for i in range(4)})
    assert "at most 3" in assert_error_format(post_batch(api, archive), 400, field="files")["detail"]
    assert not Image.objects.exists()


def test_a_zip_may_be_larger_than_one_image_but_not_than_its_own_limit(api, settings):
    settings.MAX_UPLOAD_BYTES = 30_000
    settings.BATCH_MAX_ZIP_BYTES = 200_000
    members = {f"{i}.bmp": image_bytes("BMP", size=(70, 70), color=(i * 40, 0, 0)) for i in range(4)}  # ~15 KB each
    archive = make_zip(members, compression=zipfile.ZIP_STORED)
    assert 30_000 < len(archive) < 200_000
    assert post_batch(api, upload("ok.zip", archive)).status_code == 202
    settings.BATCH_MAX_ZIP_BYTES = 40_000
    response = post_batch(api, upload("big.zip", archive))
    body = assert_error_format(response, 413, field="files")
    assert "archive is larger than" in body["refused"][0]["reason"]


def test_batch_bad_params_and_bad_files(api, settings):
    assert_error_format(post_batch(api, upload("a.jpg", image_bytes("JPEG")), temperature="9"), 400, field="temperature")
    assert_error_format(post_batch(api, upload("a.jpg", b"nope")), 400, field="files")
    assert_error_format(post_batch(api), 400, field="files")
    assert not Image.objects.exists() and stored_files(settings) == []


def test_batch_create_needs_authentication_and_is_rate_limited(anon, api, settings):
    assert_error_format(post_batch(anon, upload("a.jpg", image_bytes("JPEG"))), 401)
    settings.API_RATE_BATCH = "1/h"
    assert post_batch(api, upload("a.jpg", image_bytes("JPEG"))).status_code == 202
    response = post_batch(api, upload("a.jpg", image_bytes("JPEG")))
    assert_error_format(response, 429)
    assert int(response["Retry-After"]) >= 1


# --- Progress and export --------------------------------------------------------------------------


@pytest.fixture
def captioned_batch(user, tiny_model, settings) -> Batch:
    result = batch_submit(
        owner=user,
        files=[upload("=cmd.jpg", image_bytes("JPEG")), upload("b.png", image_bytes("PNG")), upload("c.gif", image_bytes("GIF"))],
    )
    run_worker_once()
    Image.objects.filter(batch=result.batch, original_filename="c.gif").update(status=Image.Status.FAILED, current_caption=None)
    return result.batch


def test_progress_counts_images_by_status(api, user):
    result = batch_submit(owner=user, files=[upload(f"{i}.jpg", image_bytes("JPEG", color=(i, 9, 9))) for i in range(3)])
    first = result.accepted[0]
    Image.objects.filter(pk=first.pk).update(status=Image.Status.DONE)
    body = api.get(reverse("api:batch-detail", args=[result.batch.pk])).json()
    assert body["id"] == result.batch.pk and body["total"] == 3
    assert body["counts"] == {"queued": 2, "processing": 0, "done": 1, "failed": 0}
    assert body["finished"] is False
    assert api.get(body["images_url"]).json()["count"] == 3
    Image.objects.update(status=Image.Status.FAILED)
    assert api.get(reverse("api:batch-detail", args=[result.batch.pk])).json()["finished"] is True


def test_export_csv_and_json(api, captioned_batch):
    url = reverse("api:batch-export", args=[captioned_batch.pk])
    assert url.endswith("/export")  # as the docs spell it; with a trailing slash works too
    response = api.get(url + "/", {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="batch-{captioned_batch.pk}-alt-text.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["filename"] for r in rows] == ["'=cmd.jpg", "b.png", "c.gif"]  # no formula runs in a spreadsheet
    captions = dict(Caption.objects.filter(image__batch=captioned_batch).values_list("image__original_filename", "text"))
    assert rows[1]["caption"] == captions["b.png"] and float(rows[1]["confidence"]) >= 0
    assert rows[2]["status"] == "failed" and rows[2]["caption"] == "" and rows[2]["confidence"] == ""

    as_json = api.get(url, {"format": "json"}, HTTP_ACCEPT="text/csv")
    assert as_json.status_code == 200 and as_json["Content-Type"] == "application/json"
    data = as_json.json()
    assert [r["filename"] for r in data] == ["=cmd.jpg", "b.png", "c.gif"]
    assert data[1]["caption"] == captions["b.png"] and data[2]["confidence"] is None
    assert api.get(url).content == response.content  # CSV is the default

    assert_error_format(api.get(url, {"format": "xml"}), 400, field="format")


def test_another_users_batch_is_a_404(api, other_user):
    result = batch_submit(owner=other_user, files=[upload("a.jpg", image_bytes("JPEG"))])
    assert_error_format(api.get(reverse("api:batch-detail", args=[result.batch.pk])), 404)
    assert_error_format(api.get(reverse("api:batch-export", args=[result.batch.pk])), 404)
    assert api.get("/api/v1/images/", {"batch": result.batch.pk}).json()["count"] == 0


def test_batch_reads_need_authentication(anon, user):
    result = batch_submit(owner=user, files=[upload("a.jpg", image_bytes("JPEG"))])
    assert_error_format(anon.get(reverse("api:batch-detail", args=[result.batch.pk])), 401)
    assert_error_format(anon.get(reverse("api:batch-export", args=[result.batch.pk])), 401)


@pytest.mark.parametrize("fmt,name", [("csv", "alt-text.csv"), ("json", "alt-text.json"), ("html", "alt-text.html"), ("zip", "alt-text.zip")])
def test_an_export_downloads_under_the_same_name_from_the_website_and_the_api(client, api, captioned_batch, fmt, name):
    client.force_login(captioned_batch.owner)
    web = client.get(reverse("captions:batch_export", args=[captioned_batch.pk]), {"format": fmt})
    through_api = api.get(reverse("api:batch-export", args=[captioned_batch.pk]), {"format": fmt})
    assert web.status_code == through_api.status_code == 200
    expected = f'attachment; filename="batch-{captioned_batch.pk}-{name}"'
    assert web["Content-Disposition"] == through_api["Content-Disposition"] == expected
