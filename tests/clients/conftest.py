"""The Python client against the real platform: daphne and a Celery worker on the test database."""

import pytest
from ailounge import Client
from rest_framework.authtoken.models import Token


@pytest.fixture
def token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


@pytest.fixture
def client(live_web, token):
    with Client(live_web, token, retries=2, backoff=0.2) as c:
        yield c


# Small, fast procedural jobs.
SMALL = {"num_frames": 8, "width": 256, "height": 144, "fps": 8}
# Long enough (about a second) that the socket is open while it renders, not only at its end.
WATCHED = {"num_frames": 48, "width": 640, "height": 360, "fps": 8}
# A long one (a few hundred ms per frame): time to interrupt it while it runs.
LONG = {
    "num_frames": 120,
    "width": 1024,
    "height": 576,
    "fps": 8,
    "guidance_scale": 9.0,
    "quality": "fast",
    "enhance_prompt": False,
}
