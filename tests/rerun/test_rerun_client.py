"""`Client.rerun` and `ailounge rerun` against the real running platform (daphne + a Celery
worker): the same seed gives the same frames, overrides apply, errors carry the API's code."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from ailounge import Client as AILoungeClient
from ailounge import Conflict, NotFound, ValidationError
from rest_framework.authtoken.models import Token

from apps.billing.selectors import credits_balance
from apps.generation.models import Generation
from tests.clients.conftest import SMALL
from tests.clients.test_cli import cli_env, run
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


@pytest.fixture
def ail(live_web, token):
    """The Python client as the test user (tests/clients' `client`, named apart from Django's)."""
    with AILoungeClient(live_web, token, retries=2, backoff=0.2) as c:
        yield c


def _frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]


def test_client_rerun_gives_the_same_frames_and_takes_overrides(
    live_web, worker, ail, user, tmp_path
):
    first = ail.generate(prompt="a brass orrery", params={**SMALL, "seed": 77})
    assert first.status == "succeeded", first.error
    before = credits_balance(user=user)

    again = ail.rerun(first.id)
    changed = ail.rerun(first.id, seed=78, params={"num_frames": 6}, prompt="a tin orrery")

    assert again.status == changed.status == "succeeded"
    assert again.id != first.id and again.seed == 77
    assert credits_balance(user=user) == before - again.cost_credits - changed.cost_credits
    a, b = (_frames(ail.download(g.id, tmp_path / f"{g.id}.mp4")) for g in (first, again))
    assert len(a) == SMALL["num_frames"] and all(
        np.array_equal(x, y) for x, y in zip(a, b, strict=True)
    )
    assert changed.seed == 78 and changed.prompt == "a tin orrery"
    assert changed.num_frames == 6


def test_client_rerun_errors_raise_with_the_api_code(live_web, ail, user):
    queued = ail.generate(prompt="still waiting", params=SMALL, wait=False)  # no worker
    with pytest.raises(Conflict) as unfinished:
        ail.rerun(queued.id, wait=False)
    assert unfinished.value.code == "not_finished"

    Generation.objects.filter(pk=queued.id).update(status="failed")
    with pytest.raises(ValidationError) as bad:
        ail.rerun(queued.id, params={"num_frames": 0}, wait=False)
    assert bad.value.status == 400

    stranger = AILoungeClient(live_web, Token.objects.create(user=UserFactory()).key)
    with pytest.raises(NotFound):
        stranger.rerun(queued.id, wait=False)
    assert Generation.objects.count() == 1


def test_cli_rerun_with_seed_and_params(live_web, worker, ail, token):
    first = ail.generate(prompt="a glass lantern", params={**SMALL, "seed": 5})
    assert first.status == "succeeded", first.error
    env = cli_env(live_web, token)

    done = run(
        env, "rerun", first.id, "--seed", "6", "--param", "num_frames=6", "--no-download",
        "--json",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["status"] == "succeeded" and body["seed"] == 6 and body["id"] != first.id
    assert body["params"]["num_frames"] == 6 and body["prompt"] == "a glass lantern"

    unknown = run(env, "rerun", first.id, "--param", "colour=red", "--json")
    assert unknown.returncode == 2
    assert json.loads(unknown.stdout)["status"] == 400
