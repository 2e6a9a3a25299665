"""`download` with MEDIA_STORAGE=s3: the server redirects to a signed URL of a real S3 API
server (moto); the client follows it without taking the token to the bucket's host."""

import av
import pytest
import requests
from ailounge import Client

from tests import processes
from tests.clients.conftest import SMALL
from tests.storage.conftest import s3_endpoint, s3_env  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_download_follows_the_redirect_to_the_bucket(s3_env, token, tmp_path):  # noqa: F811
    with (
        processes.web_server(MEDIA_ROOT=str(tmp_path / "web"), **s3_env) as base,
        processes.celery_worker(MEDIA_ROOT=str(tmp_path / "worker"), **s3_env),
        Client(base, token) as client,
    ):
        job = client.generate(prompt="neon rain over a harbour", params=SMALL)
        assert job.status == "succeeded", job.error
        first = requests.get(
            job.video_url,
            headers={"Authorization": f"Token {token}"},
            allow_redirects=False,
            timeout=10,
        )
        assert first.status_code == 302
        assert first.headers["Location"].startswith(s3_env["AWS_S3_ENDPOINT_URL"])

        path = client.download(job.id, tmp_path / "from-s3.mp4")

    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 8


def test_the_token_goes_to_the_api_origin_only():
    with Client("http://127.0.0.1:8000/", "secret") as client:
        own = client._media_headers("http://127.0.0.1:8000/media/generations/x/video")
        bucket = client._media_headers("http://127.0.0.1:9000/media/x.mp4?X-Amz-Signature=1")
        other_scheme = client._media_headers("https://127.0.0.1:8000/media/x")
    assert own["Authorization"] == "Token secret"
    assert "Authorization" not in bucket and "Authorization" not in other_scheme
