import pytest

from apps.generation import eta


@pytest.fixture
def clean_eta():
    """No timings from earlier tests: ETAs start unknown, and none are left behind."""

    def wipe():
        client = eta._redis()
        for key in client.scan_iter(f"{eta.key_prefix()}*"):
            client.delete(key)

    wipe()
    yield
    wipe()
