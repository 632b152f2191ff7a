"""Media on S3-compatible object storage (a real SeaweedFS server): uploads, serving, the worker,
deletion and the media sweep work on the bucket; web and worker hosts share no disk; the storage
down answers 503 with Retry-After and keeps nothing."""

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from captions.models import Image
from captions.services.media import media_sweep
from tests.images import image_bytes, upload
from tests.s3server import SeaweedFS
from tests.upload import upload_hooks

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def upload_files(api, *files):
    return api.post("/api/v1/images/", {"files": list(files)}, format="multipart")


def local_media_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def test_uploads_are_private_objects_in_the_bucket_and_nothing_on_local_disk(api, s3_media, settings):
    server, bucket = s3_media
    original = image_bytes("PNG", size=(90, 60))
    response = upload_files(api, upload("a.png", original), upload("b.jpg", image_bytes("JPEG")))
    assert response.status_code == 202, response.content
    images = list(Image.objects.order_by("id"))
    assert len(images) == 2
    keys = server.keys(bucket)
    assert sorted(keys) == sorted([i.file.name for i in images] + [i.thumbnail.name for i in images])
    assert server.client().get_object(Bucket=bucket, Key=images[0].file.name)["Body"].read() == original
    assert local_media_files(settings) == []  # no staging folder, no copies: the bucket only
    # Private: the bucket answers an unsigned request with 403.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.endpoint}/{bucket}/{images[0].file.name}", timeout=10)
    assert refused.value.code == 403


def test_owners_get_their_image_through_the_app_or_a_short_lived_presigned_url(s3_media, user, make_user, settings, api):
    server, bucket = s3_media
    original = image_bytes("PNG", size=(70, 50))
    assert upload_files(api, upload("a.png", original)).status_code == 202
    image = Image.objects.get()
    owner = Client()
    owner.force_login(user)
    url = reverse("captions:image_original", args=[image.public_id])

    streamed = owner.get(url)
    assert streamed.status_code == 200 and b"".join(streamed.streaming_content) == original
    assert streamed["Cache-Control"].startswith("private")

    settings.MEDIA_SERVE = "redirect"
    redirected = owner.get(url)
    assert redirected.status_code == 302 and redirected["Cache-Control"] == "private, no-store"
    signed = redirected["Location"]
    assert signed.startswith(server.endpoint) and "X-Amz-Signature=" in signed
    assert f"X-Amz-Expires={settings.MEDIA_URL_EXPIRE_SECONDS}" in signed
    assert urllib.request.urlopen(signed, timeout=10).read() == original

    stranger = Client()
    stranger.force_login(make_user("eve@example.com"))
    assert stranger.get(url).status_code == 404  # another user's image: no URL at all


def test_a_missing_object_is_a_404_not_a_500(api, s3_media, user):
    server, bucket = s3_media
    assert upload_files(api, upload("a.png", image_bytes("PNG"))).status_code == 202
    image = Image.objects.get()
    server.client().delete_object(Bucket=bucket, Key=image.thumbnail.name)
    owner = Client()
    owner.force_login(user)
    assert owner.get(reverse("captions:image_thumbnail", args=[image.public_id])).status_code == 404


def test_a_refused_file_leaves_no_object(api, s3_media, settings):
    server, bucket = s3_media
    settings.UPLOAD_IMAGE_VALIDATORS = ["tests.upload.upload_hooks.refuse_on_nsfw"]
    response = upload_files(api, upload("ok.png", image_bytes("PNG")), upload("nsfw.png", image_bytes("PNG")))
    assert response.status_code == 202
    assert [item["filename"] for item in response.json()["refused"]] == ["nsfw.png"]
    image = Image.objects.get()
    assert server.keys(bucket) == sorted([image.file.name, image.thumbnail.name])


def test_deleting_an_image_deletes_its_objects(api, s3_media, django_capture_on_commit_callbacks):
    server, bucket = s3_media
    assert upload_files(api, upload("a.png", image_bytes("PNG")), upload("b.png", image_bytes("PNG"))).status_code == 202
    first, second = Image.objects.order_by("id")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/v1/images/{first.public_id}/")
    assert response.status_code == 204, response.content
    assert server.keys(bucket) == sorted([second.file.name, second.thumbnail.name])


def test_the_media_sweep_removes_objects_no_row_names_and_keeps_the_rest(api, s3_media):
    server, bucket = s3_media
    assert upload_files(api, upload("a.png", image_bytes("PNG"))).status_code == 202
    image = Image.objects.get()
    client = server.client()
    client.put_object(Bucket=bucket, Key="images/2020/01/orphan.png", Body=b"left by a killed request")
    client.put_object(Bucket=bucket, Key="thumbnails/2020/01/orphan.jpg", Body=b"x")
    client.put_object(Bucket=bucket, Key="evaluations/run-1.json", Body=b"{}")  # not image media: kept

    young = media_sweep()  # MEDIA_SWEEP_AFTER_MINUTES: fresh objects may belong to uploads in flight
    assert young.orphans_deleted == 0 and len(server.keys(bucket)) == 5
    time.sleep(1.1)  # LastModified has one-second resolution
    summary = media_sweep(older_than_minutes=0)
    assert summary.orphans_deleted == 2
    assert server.keys(bucket) == sorted([image.file.name, image.thumbnail.name, "evaluations/run-1.json"])


def test_storage_down_answers_503_with_retry_after_and_stores_nothing(api, s3_media, settings, caplog):
    from captionsite.settings import media_s3_storage
    from tests.s3server import free_port

    settings.STORAGES = {**settings.STORAGES, "default": media_s3_storage(
        "media", f"http://127.0.0.1:{free_port()}", "us-east-1", "k", "s", "path")}
    response = upload_files(api, upload("a.png", image_bytes("PNG")), upload("b.png", image_bytes("PNG")))
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    assert response.json()["code"] == "unavailable"
    assert Image.objects.count() == 0
    failures = [r for r in caplog.records if r.getMessage().startswith("Media storage failed")]
    assert len(failures) == 1 and failures[0].exc_info is None  # one line, not a traceback per file


@pytest.fixture
def own_seaweedfs(tmp_path, settings):
    """A SeaweedFS server of this test alone (the test stops it)."""
    from captionsite.settings import media_s3_storage
    from tests.s3server import ACCESS_KEY, SECRET_KEY

    server = SeaweedFS(tmp_path / "own-seaweedfs")
    server.start()
    server.client().create_bucket(Bucket="media")
    settings.STORAGES = {**settings.STORAGES, "default": media_s3_storage(
        "media", server.endpoint, "us-east-1", ACCESS_KEY, SECRET_KEY, "path")}
    yield server
    server.stop()
    upload_hooks.storage_stopper = None


def test_storage_going_down_mid_upload_answers_503_and_announces_nothing(api, own_seaweedfs, settings):
    """Files 1-2 are written to the bucket, then the server dies: no row is committed, the answer
    is a 503, and the objects already written are removed (now, or by the sweep once the storage
    is back)."""
    settings.UPLOAD_IMAGE_VALIDATORS = ["tests.upload.upload_hooks.stop_storage_on_stop"]
    upload_hooks.storage_stopper = own_seaweedfs.stop
    files = [upload("1.png", image_bytes("PNG")), upload("2.png", image_bytes("PNG")),
             upload("stop.png", image_bytes("PNG")), upload("4.png", image_bytes("PNG"))]
    response = upload_files(api, *files)
    assert response.status_code == 503, response.content
    assert response["Retry-After"]
    assert Image.objects.count() == 0
    own_seaweedfs.start()
    time.sleep(1.1)
    media_sweep(older_than_minutes=0)
    assert own_seaweedfs.keys("media", "images/") == [] and own_seaweedfs.keys("media", "thumbnails/") == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_hosts_without_a_shared_disk_caption_end_to_end(api, s3_media, qcluster, settings):
    """The web host (this process) and the worker host (the qcluster, its own MEDIA_ROOT) share
    only the database and the bucket."""
    server, bucket = s3_media
    response = upload_files(api, upload("a.png", image_bytes("PNG", size=(64, 64))),
                            upload("b.jpg", image_bytes("JPEG", color=(10, 200, 10))))
    assert response.status_code == 202, response.content
    qcluster(2)
    images = list(Image.objects.order_by("id"))
    assert [image.status for image in images] != [] and all(image.status == Image.Status.DONE for image in images), [
        (image.status, image.error) for image in images]
    assert all(image.current_caption and image.current_caption.text for image in images)
    assert local_media_files(settings) == []
    worker_media = Path(settings.MEDIA_ROOT).parent / "worker-host-media"
    assert not worker_media.exists() or not [p for p in worker_media.rglob("*") if p.is_file()]
    # Deleting on the web host removes the objects the worker read.
    assert api.delete(f"/api/v1/images/{images[0].public_id}/").status_code == 204
    assert server.keys(bucket) == sorted([images[1].file.name, images[1].thumbnail.name])
