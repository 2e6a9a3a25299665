"""A real S3 API server for the storage tests: moto's server mode on a free local port, stopped
at the end, with boto3 as the client. `media_backend` runs a test on the local backend and on
S3; `s3_env` is what a process needs to use the bucket (MEDIA_STORAGE=s3 and the AWS_* settings).
"""

from __future__ import annotations

import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.processes import free_port

REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )


@pytest.fixture
def s3_env(s3_endpoint) -> dict[str, str]:
    """A fresh bucket, and the settings that select it."""
    bucket = f"media-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    return {
        "MEDIA_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_S3_REGION_NAME": REGION,
    }


def bucket_keys(env: dict[str, str]) -> list[str]:
    client = s3_client(env["AWS_S3_ENDPOINT_URL"])
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=env["AWS_STORAGE_BUCKET_NAME"])
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", ()))


@pytest.fixture(params=["local", "s3"])
def media_backend(request, settings, tmp_path, monkeypatch):
    """This process's STORAGES["default"] as the settings build it for MEDIA_STORAGE=local (on
    a fresh MEDIA_ROOT) or s3 (on a fresh bucket). Yields the s3 env, or None for local."""
    from config.settings.base import media_storage

    settings.MEDIA_ROOT = str(tmp_path / "media")
    env = request.getfixturevalue("s3_env") if request.param == "s3" else None
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    settings.STORAGES = {**settings.STORAGES, "default": media_storage(request.param)}
    yield env
