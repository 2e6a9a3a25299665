"""Every call AI Lounge makes to Gemini (google-genai), in one module.

`persona_draft_request` asks for a persona draft as structured JSON, retrying with exponential
backoff on rate limits (429) and server errors (5xx). Callers fall back to the local analysis
on GeminiUnavailable. Tests point the client at a local server with GEMINI_BASE_URL.
"""

from __future__ import annotations

import logging

import tenacity
from django.conf import settings
from pydantic import BaseModel, Field, ValidationError

logger = logging.getLogger(__name__)

RETRY_STATUS_CODES = {408, 429, 500, 502, 503, 504}

PERSONA_PROMPT = (
    "You design recurring characters for short AI videos. Look at this image and draft a "
    "persona for the main character or subject in it. Answer only with JSON: "
    "`name` (a short, catchy character name, at most 5 words), "
    "`description` (who or what it is and how it looks: appearance, clothing, distinguishing "
    "features, at most 80 words, written as a prompt fragment), "
    "`style` (comma-separated visual style words for video prompts: medium, lighting, mood, "
    "camera, at most 25 words), "
    "`palette` (3 to 6 dominant colours as #rrggbb hex strings), "
    "`notes` (one sentence on what is uncertain and should be checked by the user)."
)


class GeminiUnavailable(Exception):
    """Gemini could not give a usable answer (not configured, refused, failed, or malformed)."""


class PersonaDraftSchema(BaseModel):
    """A persona draft for a recurring character in short AI videos."""

    # Sent as the responseSchema and parsed back; the service trims the lengths.

    name: str
    description: str
    style: str
    palette: list[str] = Field(default_factory=list)
    notes: str = ""


def gemini_configured() -> bool:
    return bool(settings.GEMINI_API_KEY)


def _client():
    from google import genai
    from google.genai import types

    # v1beta: the Generative Language API version whose generateContent takes responseSchema.
    options = types.HttpOptions(
        api_version="v1beta", timeout=int(settings.GEMINI_TIMEOUT_SECONDS * 1000)
    )
    if settings.GEMINI_BASE_URL:
        options.base_url = settings.GEMINI_BASE_URL
    return genai.Client(api_key=settings.GEMINI_API_KEY, http_options=options)


def _retriable(exc: BaseException) -> bool:
    from google.genai import errors

    return isinstance(exc, errors.APIError) and exc.code in RETRY_STATUS_CODES


def persona_draft_request(*, image_png: bytes) -> PersonaDraftSchema:
    """Ask Gemini for a persona draft of the image (PNG bytes). Raises GeminiUnavailable."""
    if not gemini_configured():
        raise GeminiUnavailable("GEMINI_API_KEY is not set.")
    from google.genai import errors, types

    client = _client()
    config = types.GenerateContentConfig(
        response_mime_type="application/json",
        response_schema=PersonaDraftSchema,
        temperature=0.4,
    )
    contents = [types.Part.from_bytes(data=image_png, mime_type="image/png"), PERSONA_PROMPT]
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, settings.GEMINI_RETRY_ATTEMPTS)),
        wait=tenacity.wait_exponential_jitter(
            initial=settings.GEMINI_RETRY_INITIAL_DELAY,
            max=settings.GEMINI_RETRY_MAX_DELAY,
            jitter=settings.GEMINI_RETRY_INITIAL_DELAY,
        ),
        retry=tenacity.retry_if_exception(_retriable),
        before_sleep=tenacity.before_sleep_log(logger, logging.INFO),
        reraise=True,
    )
    try:
        response = retrying(
            client.models.generate_content,
            model=settings.GEMINI_MODEL,
            contents=contents,
            config=config,
        )
        text = response.text or ""
        return PersonaDraftSchema.model_validate_json(text)
    except errors.APIError as exc:
        logger.warning("Gemini refused the persona draft: %s", exc)
        raise GeminiUnavailable(f"Gemini answered {exc.code}.") from exc
    except ValidationError as exc:
        logger.warning("Gemini's persona draft was not the JSON asked for: %s", exc)
        raise GeminiUnavailable("Gemini's answer was not a usable draft.") from exc
    except Exception as exc:  # network errors, timeouts, a blocked answer without text
        logger.warning("Gemini persona draft failed: %r", exc)
        raise GeminiUnavailable("Gemini could not be reached.") from exc
    finally:
        client.close()
