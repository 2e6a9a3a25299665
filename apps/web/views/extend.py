""" "Extend": a finished video's last frame, saved as a picture of the user's, starts a new
image-to-video clip on the create page."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from apps.core.storage import media_exists, media_fetch
from apps.generation.models import Generation

from .common import generation_or_404

EXTEND_DIR = "extend"


def extend_name_for(user, token: str | None) -> str | None:
    """The stored last frame that "Extend" saved for this user, or None."""
    try:
        key = uuid.UUID(str(token or ""))
    except ValueError:
        return None
    name = f"{EXTEND_DIR}/{user.pk}/{key.hex}.png"
    return name if default_storage.exists(name) else None


@login_required
@require_safe
def extend_image(request, token):
    """The picture an "Extend" saved, for its owner only (the create page's preview)."""
    name = extend_name_for(request.user, token)
    if name is None:
        raise Http404("No such picture.")
    response = FileResponse(default_storage.open(name, "rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Robots-Tag"] = "noindex"
    return response


@login_required
@require_POST
def job_extend(request, pk):
    """Chain a new image-to-video clip from a finished video's last frame.

    The frame is read with PyAV (workers.storyboard.frames: no torch here) into a stored picture
    of the user's, and the create page opens on Image → Video with that picture chosen.
    """
    generation = generation_or_404(request, pk)
    if generation.status != Generation.Status.SUCCEEDED or not media_exists(generation.video.name):
        messages.warning(request, "Only a finished video can be extended.")
        return redirect("web:job", pk=generation.pk)
    from workers.storyboard.frames import extract_last_frame

    token = uuid.uuid4().hex
    with tempfile.TemporaryDirectory() as folder:
        still = Path(folder) / "last.png"
        try:
            # The video may be in an object store: read through storage into the temp folder.
            extract_last_frame(
                media_fetch(generation.video.name, Path(folder) / "video.mp4"), still
            )
        except (ValueError, OSError):
            messages.warning(request, "Could not read the last frame of this video.")
            return redirect("web:job", pk=generation.pk)
        with still.open("rb") as fh:
            default_storage.save(f"{EXTEND_DIR}/{request.user.pk}/{token}.png", File(fh))
    query = f"kind=image_to_video&extend={token}"
    if generation.persona_id:
        query += f"&persona={generation.persona_id}"
    return redirect(f"{reverse('web:create')}?{query}")
