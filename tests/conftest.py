import shutil
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import processes
from tests.factories import UserFactory


@pytest.fixture(autouse=True, scope="session")
def _media_root():
    root = Path(settings.MEDIA_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_api_throttles():
    """The API throttles count in Redis (apps.core.throttling): every test starts from zero."""
    from apps.core.throttling import throttle_reset

    throttle_reset()
    yield


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True, is_superuser=True)


def _client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(user) -> APIClient:
    """An API client authenticated as `user` by token."""
    return _client_for(user)


@pytest.fixture
def api_for():
    return _client_for


@pytest.fixture
def worker(transactional_db):
    """A real Celery worker process over real Redis, on the test database."""
    with processes.celery_worker() as proc:
        yield proc


@pytest.fixture
def live_web(transactional_db):
    """The real daphne server (HTTP + websocket) on the test database; yields its base URL."""
    with processes.web_server() as base:
        yield base


@pytest.fixture
def clean_eta():
    """No timings from earlier tests: ETAs start unknown, and none are left behind."""
    from apps.generation import eta

    def wipe():
        client = eta._redis()
        for key in client.scan_iter(f"{eta.key_prefix()}*"):
            client.delete(key)

    wipe()
    yield
    wipe()
