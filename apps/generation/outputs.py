"""Where a job's files live, and their removal when the job ends without its video."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from .models import Generation, StoryboardScene


def generation_output_dir(*, generation_id) -> Path:
    return Path(settings.MEDIA_ROOT) / "generations" / str(generation_id)


def generation_discard_outputs(*, generation_id) -> None:
    """Remove what a failed, canceled or superseded job wrote. A storyboard keeps the clips of
    its finished scenes (they were paid for, are shown per scene, and a retry re-assembles from
    them); its merged outputs and the clips of unfinished scenes go."""
    out_dir = generation_output_dir(generation_id=generation_id)
    if not Generation.objects.filter(pk=generation_id, kind=Generation.Kind.STORYBOARD).exists():
        shutil.rmtree(out_dir, ignore_errors=True)
        return
    keep = {
        str(index)
        for index in StoryboardScene.objects.filter(
            generation_id=generation_id, status=StoryboardScene.Status.SUCCEEDED
        ).values_list("index", flat=True)
    }
    if not out_dir.is_dir():
        return
    for entry in out_dir.iterdir():
        if entry.name == "scenes" and entry.is_dir():
            for scene_dir in entry.iterdir():
                if scene_dir.name not in keep:
                    shutil.rmtree(scene_dir, ignore_errors=True)
        elif entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
