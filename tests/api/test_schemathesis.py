"""The OpenAPI schema tells the truth: schemathesis, with all its checks, against the real server.

The real web server (daphne) runs on the test database with a user who has a token, plenty of
credits and a persona with a reference image; no worker runs, so created jobs stay queued.
`st run` fetches /api/schema/ and sends what it generates from it (positive and negative data,
the coverage phase's edge cases and the stateful links), and must report nothing. Every check
runs, positive_data_acceptance and negative_data_rejection included. The run is bounded in
examples and in time.

Left out, and why:
- the media endpoints are not in the schema (files streamed to a browser, not JSON);
- the Stripe webhook is outside /api/v1/ and the schema (it needs a Stripe signature).

What a schema cannot say, and how the test deals with it:
- uploads are read (an image must decode, the narration must be audio) and a persona id must be
  one of the caller's: tests/api/schemathesis_hooks.py (a `map_case` hook, so every phase)
  puts a real PNG or WAV in a positive case's file fields and the fuzzing user's persona in its
  persona ids;
- the per-operation `expected-statuses` in CONFIG, each with its reason: the checkout's 503
  (Stripe has no keys here), create's 503 for a diffusion engine this server does not run and
  its multipart body's per-kind 400s, the quote's parameters of another kind, a persona draft's
  picture too small, a login's wrong password.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token

from apps.billing.services import credits_adjust
from apps.personas.services import persona_create
from tests import processes
from tests.api import schemathesis_hooks
from tests.factories import UserFactory

pytestmark = [pytest.mark.timeout(420)]

CONFIG = """\
# Stripe has no keys in tests: the checkout's documented 503 is its answer here; a pack id that
# is not on sale (any the fuzzer makes up) is a 400 on the `pack` field.
[[operations]]
include-path = "/api/v1/billing/checkout/"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "409", "503"]

# The test server runs no diffusion engine: asking for svd or zeroscope by name is the
# documented 503 engine_unavailable. And a multipart body is one object for every kind (a fuzzer
# cannot judge a per-kind oneOf over a body with files), so a kind's own rules (a text prompt,
# its parameters, a storyboard's scenes) are a 400 there. The JSON bodies are per kind; what they
# cannot say is tied to a scene's position (a chained storyboard's first scene needs a prompt or
# the persona's picture, the later ones start from the frame before: a scene's kind and so its
# engines and parameters follow), a 400 too.
[[operations]]
include-path = "/api/v1/generations/"
include-method = "POST"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "409", "429", "5xx"]

# Query parameters cannot depend on one another in OpenAPI: a kind's parameters with another
# kind (motion_strength with text_to_video) are schema-valid, and refused (400) like create's.
[[operations]]
include-path = "/api/v1/generations/quote/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "409", "429", "5xx"]

# A persona draft reads its picture: one smaller than 64 px a side is a 400 (`invalid_image`),
# which a schema cannot say of a binary field (the coverage phase sends its own 1 px PNG).
[[operations]]
include-path = "/api/v1/personas/draft/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "409", "429"]

# A well-formed login with a wrong password is a 400 (DRF's answer), not a schema mismatch.
[[operations]]
include-path = "/api/v1/auth/token/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "429"]
"""


@pytest.fixture
def fuzz_user(transactional_db):
    user = UserFactory()
    credits_adjust(
        user=user, amount=1_000_000, note="fuzzing", created_by=None, reference="test:fuzz"
    )
    # With a reference image: a JSON image-to-video body names a persona for its picture.
    picture = SimpleUploadedFile("fuzz.png", schemathesis_hooks.PNG, content_type="image/png")
    persona = persona_create(
        user=user, name="Fuzz", description="a test pilot", reference_image=picture
    )
    return user, Token.objects.create(user=user).key, persona


def test_schemathesis_finds_nothing(fuzz_user, tmp_path):
    _, token, persona = fuzz_user
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    env = {
        **processes.process_env(),
        "PYTHONPATH": str(processes.ROOT),
        "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",  # real images, audio, ids
        "FUZZ_PERSONA_ID": str(persona.pk),
    }
    with processes.web_server(GENERATION_ENGINE="procedural") as base:
        started = time.monotonic()
        result = subprocess.run(
            [
                str(processes.BIN / "st"),
                "--config-file",
                str(config),
                "run",
                f"{base}/api/schema/",
                "--checks",
                "all",
                "-H",
                f"Authorization: Token {token}",
                "--max-examples",
                "10",
                "--workers",
                "1",
                "--max-time",
                "90",
                "--seed",
                "1",
                "--request-timeout",
                "20",
                "--output-truncate",
                "true",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"schemathesis found failures ({elapsed:.0f} s):\n{output[-20000:]}"
    )
    assert "No issues found" in output or " passed" in output, output[-3000:]
