"""Every bad input is a clear 4xx, and leaves nothing behind.

One parametrized corpus over every endpoint that takes input: generation create for each kind,
the quote, persona create and draft, content PATCH, the webhook secret, the token endpoint, the
checkout, the Stripe webhook and the web pages' forms. Each case sends one bad request through
the real URL routing, middleware, parsers and exception handler, and asserts:

- a 4xx status (the one named; never a 5xx, never a 2xx),
- under /api/ (and for JSON callers) the error body `{"detail": str, "code": str}`; a web page
  gets an HTML page instead,
- nothing changed: the ledger (every entry and the balance), no new or changed row
  (Generation, StoryboardScene, Persona, ContentItem, Purchase, StripeEvent, WebhookSecret,
  Token) and no new file under MEDIA_ROOT.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from PIL import Image, PngImagePlugin
from rest_framework.authtoken.models import Token

from apps.billing.models import LedgerEntry, Purchase, StripeEvent
from apps.billing.selectors import credits_balance
from apps.content.models import ContentItem
from apps.generation.models import Generation, StoryboardScene
from apps.personas.models import Persona
from apps.webhooks.models import WebhookSecret
from tests.content.conftest import make_item
from tests.fakes.stripe_server import FakeStripe
from tests.hardening.files import (
    html_with_png_header,
    jpeg_bytes,
    truncated,
    wav_bytes,
    zip_png_polyglot,
)
from tests.images import SVG, decompression_bomb_png, png_bytes, upload

WEBHOOK_SECRET = "whsec_test_hardening"
DEEP = "[" * 1500 + "]" * 1500  # about 3 KB: Python's json recursed past its limit on this
JUST_TOO_DEEP = "[" * (settings.JSON_MAX_DEPTH + 1) + "]" * (settings.JSON_MAX_DEPTH + 1)
HUGE_JSON_BYTES = 35 * 1024 * 1024
T2V = {"kind": "text_to_video", "prompt": "a neon city", "params": {"num_frames": 8}}
SCENES = [{"prompt": "a fox in snow"}, {"prompt": "a fox by a river"}]


def png_with_text(text: str) -> bytes:
    """A real, decodable PNG whose first chunk after the header holds `text` (tEXt)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text)
    out = io.BytesIO()
    Image.open(io.BytesIO(png_bytes())).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def html_in_png() -> bytes:
    return png_with_text("<html><body><script>alert(document.cookie)</script></body></html>")


def raw_json(text: str | bytes, content_type: str = "application/json") -> dict:
    return {"data": text, "content_type": content_type}


def multipart(**fields: Any) -> dict:
    return {"data": fields, "format": "multipart"}


def t2v_with(**changes: Any) -> dict:
    return {"data": json.dumps({**T2V, **changes}), "content_type": "application/json"}


def t2v_params(**params: Any) -> dict:
    return t2v_with(params={"num_frames": 8, **params})


def storyboard_multipart(**fields: Any) -> dict:
    body = {"kind": "storyboard", "scenes": json.dumps(SCENES), **fields}
    return {"data": body, "format": "multipart"}


def many_fields(count: int = 2000) -> dict:
    return {"data": {f"field{i}": "x" for i in range(count)}, "format": "multipart"}


def huge_json() -> dict:
    return raw_json(json.dumps({**T2V, "prompt": "x" * HUGE_JSON_BYTES}))


def signed(payload: str, *, timestamp: int | None = None) -> dict:
    return {
        "data": payload,
        "content_type": "application/json",
        "HTTP_STRIPE_SIGNATURE": FakeStripe.signature(payload, WEBHOOK_SECRET, timestamp=timestamp),
    }


def paid_session_event() -> str:
    session = {"id": "cs_test_hardening", "object": "checkout.session", "payment_status": "paid"}
    return json.dumps(
        {"id": "evt_hardening", "type": "checkout.session.completed", "data": {"object": session}}
    )


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    request: Callable[[], dict]
    status: int
    code: str | None = None  # the `code` expected, where one is promised
    auth: str = "token"  # "token", "none", or "session" (a web page)
    needs_item: bool = False
    html: str = ""  # what a web page's answer must say


GEN = "/api/v1/generations/"
QUOTE = "/api/v1/generations/quote/"
PERSONAS = "/api/v1/personas/"
DRAFT = "/api/v1/personas/draft/"
CONTENT = "/api/v1/content/{item}/"
TOKEN = "/api/v1/auth/token/"
CHECKOUT = "/api/v1/billing/checkout/"
SECRET = "/api/v1/webhooks/secret/"
STRIPE = "/billing/stripe/webhook/"
WEB_CREATE = "/create/"

CASES = [
    # --- generation create: JSON body ------------------------------------------------------
    Case("create-deep-json-body", "post", GEN, lambda: raw_json(DEEP), 400, "invalid_json"),
    Case(
        "create-deep-params",
        "post",
        GEN,
        lambda: raw_json('{"kind": "text_to_video", "prompt": "x", "params": ' + DEEP + "}"),
        400,
        "invalid_json",
    ),
    Case("create-33-levels", "post", GEN, lambda: raw_json(JUST_TOO_DEEP), 400, "invalid_json"),
    Case(
        "create-nan",
        "post",
        GEN,
        lambda: raw_json('{"kind": "text_to_video", "params": {"guidance_scale": NaN}}'),
        400,
        "invalid_json",
    ),
    Case(
        "create-infinity",
        "post",
        GEN,
        lambda: raw_json('{"kind": "text_to_video", "params": {"guidance_scale": -Infinity}}'),
        400,
        "invalid_json",
    ),
    Case(
        "create-1e309",
        "post",
        GEN,
        lambda: raw_json('{"kind": "text_to_video", "params": {"guidance_scale": 1e309}}'),
        400,
        "invalid_json",
    ),
    Case(
        "create-5000-digit-int",
        "post",
        GEN,
        lambda: raw_json('{"kind": "text_to_video", "params": {"num_frames": ' + "9" * 5000 + "}}"),
        400,
        "parse_error",
    ),
    Case("create-huge-int", "post", GEN, lambda: t2v_params(num_frames=10**40), 400, "invalid"),
    Case("create-negative", "post", GEN, lambda: t2v_params(num_frames=-8), 400, "invalid"),
    Case("create-seed-negative", "post", GEN, lambda: t2v_params(seed=-1), 400, "invalid"),
    Case("create-frames-string", "post", GEN, lambda: t2v_params(num_frames="many"), 400),
    Case("create-frames-bool", "post", GEN, lambda: t2v_params(num_frames=True), 400),
    Case("create-params-list", "post", GEN, lambda: t2v_with(params=[1, 2]), 400, "invalid"),
    Case("create-prompt-object", "post", GEN, lambda: t2v_with(prompt={"a": 1}), 400),
    Case("create-unknown-kind", "post", GEN, lambda: t2v_with(kind="hologram"), 400, "invalid"),
    Case("create-body-a-list", "post", GEN, lambda: raw_json("[1, 2, 3]"), 400),
    Case("create-truncated-json", "post", GEN, lambda: raw_json('{"kind": "text_'), 400),
    Case("create-invalid-utf8", "post", GEN, lambda: raw_json(b'{"prompt": "\xff\xfe"}'), 400),
    Case("create-nul-prompt", "post", GEN, lambda: t2v_with(prompt="a\u0000b"), 400),
    Case(
        "create-nul-param-key",
        "post",
        GEN,
        lambda: raw_json('{"kind": "text_to_video", "params": {"fps\\u0000": 8}}'),
        400,
        "invalid_json",
    ),
    Case(
        "create-lone-surrogate",
        "post",
        GEN,
        lambda: raw_json('{"kind": "text_to_video", "prompt": "\\ud83d"}'),
        400,
        "invalid_json",
    ),
    Case("create-100k-prompt", "post", GEN, lambda: t2v_with(prompt="a" * 100_000), 400),
    Case("create-35mb-json", "post", GEN, huge_json, 413, "request_too_large"),
    Case(
        "create-text-plain",
        "post",
        GEN,
        lambda: raw_json(json.dumps(T2V), "text/plain"),
        415,
        "unsupported_media_type",
    ),
    Case(
        "create-xml",
        "post",
        GEN,
        lambda: raw_json("<generation><kind>text_to_video</kind></generation>", "application/xml"),
        415,
        "unsupported_media_type",
    ),
    Case(
        "create-form-urlencoded",
        "post",
        GEN,
        lambda: raw_json("kind=text_to_video&prompt=x", "application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    ),
    # --- generation create: multipart -------------------------------------------------------
    Case("create-2000-fields", "post", GEN, many_fields, 400, "too_many_fields"),
    Case(
        "create-multipart-deep-params",
        "post",
        GEN,
        lambda: multipart(kind="text_to_video", prompt="x", params='{"a": ' + DEEP + "}"),
        400,
        "invalid",
    ),
    Case(
        "create-multipart-nan-params",
        "post",
        GEN,
        lambda: multipart(kind="text_to_video", prompt="x", params='{"guidance_scale": NaN}'),
        400,
        "invalid",
    ),
    Case(
        "i2v-decompression-bomb",
        "post",
        GEN,
        lambda: multipart(kind="image_to_video", image=upload(decompression_bomb_png())),
        400,
        "invalid_image",
    ),
    Case(
        "i2v-zip-png-polyglot",
        "post",
        GEN,
        lambda: multipart(kind="image_to_video", image=upload(zip_png_polyglot())),
        400,
        "invalid_image",
    ),
    Case(
        "i2v-html-in-png",
        "post",
        GEN,
        lambda: multipart(kind="image_to_video", image=upload(html_in_png())),
        400,
        "invalid_image",
    ),
    Case(
        "i2v-pdf-in-png",
        "post",
        GEN,
        lambda: multipart(kind="image_to_video", image=upload(png_with_text("%PDF-1.7 obj"))),
        400,
        "invalid_image",
    ),
    Case(
        "i2v-png-signature-then-html",
        "post",
        GEN,
        lambda: multipart(kind="image_to_video", image=upload(html_with_png_header())),
        400,
        "invalid_image",
    ),
    Case(
        "i2v-truncated-png",
        "post",
        GEN,
        lambda: multipart(kind="image_to_video", image=upload(truncated(png_bytes(), 0.6))),
        400,
        "invalid_image",
    ),
    Case(
        "i2v-truncated-jpeg",
        "post",
        GEN,
        lambda: multipart(
            kind="image_to_video",
            image=upload(truncated(jpeg_bytes(), 0.5), "photo.jpg", "image/jpeg"),
        ),
        400,
        "invalid_image",
    ),
    Case(
        "i2v-svg",
        "post",
        GEN,
        lambda: multipart(kind="image_to_video", image=upload(SVG, "x.svg", "image/svg+xml")),
        400,
        "invalid_image",
    ),
    Case(
        "i2v-empty-file",
        "post",
        GEN,
        lambda: multipart(kind="image_to_video", image=upload(b"")),
        400,
        "invalid_image",
    ),
    Case(
        "i2v-motion-out-of-range",
        "post",
        GEN,
        lambda: multipart(
            kind="image_to_video", image=upload(png_bytes()), params='{"motion_strength": 2.5}'
        ),
        400,
        "invalid",
    ),
    Case(
        "i2v-image-as-json-string",
        "post",
        GEN,
        lambda: raw_json(json.dumps({"kind": "image_to_video", "image": "data:image/png;base64,"})),
        400,
    ),
    # --- storyboard -------------------------------------------------------------------------
    Case(
        "storyboard-deep-scenes",
        "post",
        GEN,
        lambda: multipart(kind="storyboard", scenes=DEEP),
        400,
        "invalid",
    ),
    Case(
        "storyboard-scenes-an-object",
        "post",
        GEN,
        lambda: multipart(kind="storyboard", scenes='{"prompt": "a fox"}'),
        400,
        "invalid",
    ),
    Case(
        "storyboard-1000-scenes",
        "post",
        GEN,
        lambda: raw_json(json.dumps({"kind": "storyboard", "scenes": [{"prompt": "x"}] * 1000})),
        400,
    ),
    Case(
        "storyboard-scene-duration-nan",
        "post",
        GEN,
        lambda: raw_json('{"kind": "storyboard", "scenes": [{"prompt": "x", "duration": NaN}]}'),
        400,
        "invalid_json",
    ),
    Case(
        "storyboard-truncated-wav",
        "post",
        GEN,
        lambda: storyboard_multipart(
            narration_audio=upload(wav_bytes()[:30], "voice.wav", "audio/wav")
        ),
        400,
        "invalid_audio",
    ),
    Case(
        "storyboard-png-as-narration",
        "post",
        GEN,
        lambda: storyboard_multipart(narration_audio=upload(png_bytes(), "voice.wav", "audio/wav")),
        400,
        "invalid_audio",
    ),
    Case(
        "storyboard-scene-image-polyglot",
        "post",
        GEN,
        lambda: storyboard_multipart(scene_image_0=upload(zip_png_polyglot())),
        400,
        "invalid_image",
    ),
    # --- the quote --------------------------------------------------------------------------
    Case(
        "quote-deep-params",
        "get",
        QUOTE,
        lambda: {"data": {"kind": "text_to_video", "params": DEEP}},
        400,
        "invalid",
    ),
    Case(
        "quote-deep-scenes",
        "get",
        QUOTE,
        lambda: {"data": {"kind": "storyboard", "scenes": DEEP}},
        400,
        "invalid",
    ),
    Case(
        "quote-nan-in-params",
        "get",
        QUOTE,
        lambda: {"data": {"kind": "text_to_video", "params": '{"guidance_scale": NaN}'}},
        400,
        "invalid",
    ),
    Case(
        "quote-1e309",
        "get",
        QUOTE,
        lambda: {"data": {"kind": "text_to_video", "num_frames": "1e309"}},
        400,
        "invalid",
    ),
    Case("quote-no-kind", "get", QUOTE, lambda: {"data": {"num_frames": "8"}}, 400, "invalid"),
    # --- personas ---------------------------------------------------------------------------
    Case("persona-deep-json", "post", PERSONAS, lambda: raw_json(DEEP), 400, "invalid_json"),
    Case(
        "persona-deep-defaults",
        "post",
        PERSONAS,
        lambda: multipart(name="Deep", defaults='{"seed": ' + DEEP + "}"),
        400,
        "invalid",
    ),
    Case(
        "persona-rtl-override-name",
        "post",
        PERSONAS,
        lambda: raw_json(json.dumps({"name": "Nova \u202egnp.exe"})),
        400,
        "invalid",
    ),
    Case(
        "persona-nul-name",
        "post",
        PERSONAS,
        lambda: raw_json(json.dumps({"name": "No\u0000va"})),
        400,
        "invalid_json",
    ),
    Case(
        "persona-100k-description",
        "post",
        PERSONAS,
        lambda: raw_json(json.dumps({"name": "Long", "description": "d" * 100_000})),
        400,
        "invalid",
    ),
    Case(
        "persona-polyglot-reference",
        "post",
        PERSONAS,
        lambda: multipart(name="Zip", reference_image=upload(zip_png_polyglot())),
        400,
        "invalid_image",
    ),
    Case(
        "persona-defaults-infinity",
        "post",
        PERSONAS,
        lambda: raw_json('{"name": "Inf", "defaults": {"motion_strength": Infinity}}'),
        400,
        "invalid_json",
    ),
    Case(
        "draft-decompression-bomb",
        "post",
        DRAFT,
        lambda: multipart(image=upload(decompression_bomb_png())),
        400,
        "invalid_image",
    ),
    Case(
        "draft-truncated-jpeg",
        "post",
        DRAFT,
        lambda: multipart(image=upload(truncated(jpeg_bytes(), 0.4), "a.jpg", "image/jpeg")),
        400,
        "invalid_image",
    ),
    Case(
        "draft-json-body",
        "post",
        DRAFT,
        lambda: raw_json('{"image": "x"}'),
        415,
        "unsupported_media_type",
    ),
    # --- content PATCH ----------------------------------------------------------------------
    Case(
        "content-deep-json",
        "patch",
        CONTENT,
        lambda: raw_json(DEEP),
        400,
        "invalid_json",
        needs_item=True,
    ),
    Case(
        "content-rtl-override-title",
        "patch",
        CONTENT,
        lambda: raw_json(json.dumps({"title": "My clip \u202e4pm.exe"})),
        400,
        "invalid",
        needs_item=True,
    ),
    Case(
        "content-nul-title",
        "patch",
        CONTENT,
        lambda: raw_json(json.dumps({"title": "a\u0000b"})),
        400,
        "invalid_json",
        needs_item=True,
    ),
    Case(
        "content-visibility-list",
        "patch",
        CONTENT,
        lambda: raw_json(json.dumps({"visibility": ["public"]})),
        400,
        "invalid",
        needs_item=True,
    ),
    Case(
        "content-text-plain",
        "patch",
        CONTENT,
        lambda: raw_json('{"title": "x"}', "text/plain"),
        415,
        "unsupported_media_type",
        needs_item=True,
    ),
    # --- the webhook secret -----------------------------------------------------------------
    Case("secret-no-auth", "post", SECRET, lambda: {}, 401, "not_authenticated", auth="none"),
    Case(
        "secret-100k-token",
        "post",
        SECRET,
        lambda: {"HTTP_AUTHORIZATION": "Token " + "k" * 100_000},
        401,
        "authentication_failed",
        auth="none",
    ),
    Case(
        "secret-token-with-spaces",
        "post",
        SECRET,
        lambda: {"HTTP_AUTHORIZATION": "Token a b c"},
        401,
        "authentication_failed",
        auth="none",
    ),
    # --- the token endpoint -----------------------------------------------------------------
    Case(
        "token-deep-json", "post", TOKEN, lambda: raw_json(DEEP), 400, "invalid_json", auth="none"
    ),
    Case(
        "token-username-list",
        "post",
        TOKEN,
        lambda: raw_json(json.dumps({"username": ["a", "b"], "password": "x"})),
        400,
        "invalid",
        auth="none",
    ),
    Case(
        "token-nul-username",
        "post",
        TOKEN,
        lambda: raw_json(json.dumps({"username": "ad\u0000min", "password": "x"})),
        400,
        "invalid_json",
        auth="none",
    ),
    Case("token-2000-fields", "post", TOKEN, many_fields, 400, "too_many_fields", auth="none"),
    # --- the checkout -----------------------------------------------------------------------
    Case("checkout-deep-json", "post", CHECKOUT, lambda: raw_json(DEEP), 400, "invalid_json"),
    Case(
        "checkout-pack-nan",
        "post",
        CHECKOUT,
        lambda: raw_json('{"pack": NaN}'),
        400,
        "invalid_json",
    ),
    Case(
        "checkout-pack-huge-int",
        "post",
        CHECKOUT,
        lambda: raw_json(json.dumps({"pack": 10**30})),
        400,
        "pack_unavailable",
    ),
    Case(
        "checkout-pack-list",
        "post",
        CHECKOUT,
        lambda: raw_json(json.dumps({"pack": ["a"]})),
        400,
        "invalid",
    ),
    # --- the Stripe webhook (JSON callers, outside /api/) -----------------------------------
    Case(
        "stripe-future-timestamp",
        "post",
        STRIPE,
        lambda: signed(paid_session_event(), timestamp=int(time.time()) + 3600),
        400,
        "invalid_signature",
        auth="none",
    ),
    Case(
        "stripe-unsigned-deep",
        "post",
        STRIPE,
        lambda: raw_json(DEEP),
        400,
        "invalid_signature",
        auth="none",
    ),
    Case(
        "stripe-35mb",
        "post",
        STRIPE,
        lambda: raw_json("x" * HUGE_JSON_BYTES),
        413,
        "request_too_large",
        auth="none",
    ),
    # --- the web pages' forms (HTML answers) ------------------------------------------------
    Case(
        "web-create-2000-fields",
        "post",
        WEB_CREATE,
        many_fields,
        400,
        auth="session",
        html="more than 1000 form fields",
    ),
    Case(
        "web-create-31mb-form-field",
        "post",
        WEB_CREATE,
        lambda: multipart(kind="text_to_video", prompt="p" * (31 * 1024 * 1024)),
        413,
        auth="session",
        html="larger than 30 MB",
    ),
    Case(
        "web-create-decompression-bomb",
        "post",
        WEB_CREATE,
        lambda: multipart(kind="image_to_video", image=upload(decompression_bomb_png())),
        400,
        auth="session",
        html="too many pixels to decode safely",
    ),
    Case(
        "web-create-polyglot",
        "post",
        WEB_CREATE,
        lambda: multipart(kind="image_to_video", image=upload(zip_png_polyglot())),
        400,
        auth="session",
        html="also a ZIP archive",
    ),
    Case(
        "web-create-100k-prompt",
        "post",
        WEB_CREATE,
        lambda: multipart(kind="text_to_video", prompt="p" * 100_000),
        400,
        auth="session",
        html="no more than 2000 characters",
    ),
]


def media_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def state(user) -> dict:
    """Everything a request could leave behind."""
    return {
        "ledger": list(LedgerEntry.objects.order_by("id").values_list("id", "amount")),
        "balance": credits_balance(user=user),
        "generations": list(Generation.objects.values_list("id", "status")),
        "scenes": StoryboardScene.objects.count(),
        "personas": list(Persona.objects.values_list("id", "name", "updated_at")),
        "content": list(ContentItem.objects.values_list("id", "title", "visibility")),
        "purchases": Purchase.objects.count(),
        "stripe_events": StripeEvent.objects.count(),
        "webhook_secrets": list(WebhookSecret.objects.values_list("user_id", "key")),
        "tokens": sorted(Token.objects.values_list("key", flat=True)),
        "files": media_files(),
    }


def send(client, case: Case, path: str, request: dict):
    if case.method == "get":
        return client.get(path, request.get("data"))
    if "format" in request:  # multipart, encoded by the client
        data = request["data"]
        return getattr(client, case.method)(path, data, format="multipart")
    extra = {k: v for k, v in request.items() if k.startswith("HTTP_")}
    if "data" not in request:
        return client.generic(case.method.upper(), path, **extra)
    return client.generic(
        case.method.upper(),
        path,
        data=request["data"],
        content_type=request["content_type"],
        **extra,
    )


def test_the_corpus_covers_forty_cases_and_every_endpoint():
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
    paths = {case.path for case in CASES}
    assert paths == {
        GEN,
        QUOTE,
        PERSONAS,
        DRAFT,
        CONTENT,
        TOKEN,
        CHECKOUT,
        SECRET,
        STRIPE,
        WEB_CREATE,
    }
    kinds = " ".join(case.id for case in CASES if case.path == GEN)
    assert "i2v-" in kinds and "storyboard-" in kinds and "create-" in kinds


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_a_clear_4xx_and_leaves_nothing_behind(case, user, api, settings, caplog):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    path = case.path
    if case.needs_item:
        path = path.format(item=make_item(user).pk)
    if case.auth == "none":
        client = api.__class__()
    elif case.auth == "session":
        client = Client()
        client.force_login(user)
    else:
        client = api
    # The token endpoint counts per client address: each case its own, so none is throttled.
    client.defaults["REMOTE_ADDR"] = f"10.16.{len(case.id)}.{CASES.index(case) % 250 + 1}"
    request = case.request()
    before = state(user)

    response = send(client, case, path, request)

    body = response.content[:300]
    assert response.status_code == case.status, body
    # Django's security log records a refused request at ERROR; nothing else may.
    errors = [
        r for r in caplog.records if r.levelno >= 40 and not r.name.startswith("django.security")
    ]
    assert not errors, "an error was logged"
    if case.auth == "session":
        assert response["Content-Type"].startswith("text/html"), body
        assert case.html in response.content.decode(), body
    else:
        assert response["Content-Type"].startswith("application/json"), body
        error = response.json()
        assert isinstance(error.get("detail"), str) and error["detail"], error
        assert isinstance(error.get("code"), str) and error["code"], error
        if case.code is not None:
            assert error["code"] == case.code, error
    assert state(user) == before
