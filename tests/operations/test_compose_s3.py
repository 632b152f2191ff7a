"""docker-compose.s3.yml: web, worker and migrate all use the bucket its MinIO service creates,
with settings the site reads (the MEDIA_S3_ variables)."""

from pathlib import Path

import yaml

from tests.test_docs_settings import settings_names

ROOT = Path(__file__).resolve().parents[2]


def test_the_s3_compose_file_points_every_app_service_at_the_bucket_it_creates():
    compose = yaml.safe_load((ROOT / "docker-compose.s3.yml").read_text())
    services = compose["services"]
    bucket_command = " ".join(services["minio-bucket"]["command"])
    for name in ("web", "worker", "migrate"):
        environment = services[name]["environment"]
        assert set(environment) <= settings_names(), set(environment) - settings_names()
        assert f"local/{environment['MEDIA_S3_BUCKET']}" in bucket_command
        assert environment["MEDIA_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "anonymous set none" in bucket_command  # private
