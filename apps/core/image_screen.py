"""The optional image screen: an image-classification model run on uploaded pictures before
anything is charged (docs/architecture.md, "Abuse limits").

Off unless IMAGE_SCREEN_MODEL names a transformers image-classification model (a local folder
or a Hugging Face hub id). A picture is refused when the model gives one of IMAGE_SCREEN_LABELS
a score of at least IMAGE_SCREEN_THRESHOLD.

This is the one web-side module that loads the ML stack: the screen must run where the upload
is accepted, in the web process, before the charge. transformers (and torch) are imported only
when the screen is configured, on first use, and the model stays loaded in each web process
that screened a picture (its memory is the price: docs/deployment.md). The import contract in
pyproject.toml allows exactly this module to import transformers. `image_screen_check_config`
(run at startup, apps.core.apps) stops a web process whose settings ask for the screen when
transformers is not installed, instead of failing on the first upload.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .exceptions import ApplicationError

logger = logging.getLogger(__name__)
_lock = threading.Lock()  # one inference at a time per process: the model is shared


class ImageRefused(ApplicationError):
    status_code = 400
    default_code = "image_refused"


def image_screen_enabled() -> bool:
    return bool(settings.IMAGE_SCREEN_MODEL)


def image_screen_check_config() -> None:
    """Raise ImproperlyConfigured when the screen is asked for and cannot run here."""
    if not image_screen_enabled():
        return
    missing = [m for m in ("transformers", "torch") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImproperlyConfigured(
            f"IMAGE_SCREEN_MODEL is set ({settings.IMAGE_SCREEN_MODEL!r}) but {' and '.join(missing)} "
            "is not installed in this web process: install requirements/worker.txt (or "
            "`pip install transformers torch`), or unset IMAGE_SCREEN_MODEL."
        )
    if not settings.IMAGE_SCREEN_LABELS:
        raise ImproperlyConfigured("IMAGE_SCREEN_MODEL is set but IMAGE_SCREEN_LABELS is empty.")


@functools.lru_cache(maxsize=2)
def _classifier(model: str):
    image_screen_check_config()
    # The only import of the ML stack on the web side (pyproject.toml's contract allows it).
    from transformers import pipeline

    logger.info("Loading the image screen model %s", model)
    return pipeline("image-classification", model=model, device="cpu")


def image_screen_scores(*, data: bytes) -> dict[str, float]:
    """Every label's score for the picture in `data` (an encoded image), by label."""
    from PIL import Image

    classifier = _classifier(settings.IMAGE_SCREEN_MODEL)
    with Image.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGB")
    with _lock:
        results = classifier(picture, top_k=classifier.model.config.num_labels)
    return {str(r["label"]): float(r["score"]) for r in results}


def image_screen(*, data: bytes, field: str = "image") -> None:
    """Refuse a picture the configured model classifies as one of IMAGE_SCREEN_LABELS.

    Does nothing when IMAGE_SCREEN_MODEL is unset. Raises ImageRefused (HTTP 400, code
    `image_refused`) naming the label and its score.
    """
    if not image_screen_enabled():
        return
    refused = {label.casefold() for label in settings.IMAGE_SCREEN_LABELS}
    threshold = settings.IMAGE_SCREEN_THRESHOLD
    scores = image_screen_scores(data=data)
    hits = sorted(
        ((score, label) for label, score in scores.items() if label.casefold() in refused),
        reverse=True,
    )
    if hits and hits[0][0] >= threshold:
        score, label = hits[0]
        raise ImageRefused(
            f'{field}: the picture was refused by the image screen ("{label}", score '
            f"{score:.2f}, refused from {threshold:.2f}); nothing was charged. See the content "
            "rules.",
            extra={"label": label, "score": round(score, 4)},
        )
