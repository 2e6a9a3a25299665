"""Where a job's files are stored (names under `generations/<id>/`, through the storage API),
and their removal when the job ends without its video."""

from __future__ import annotations

from pathlib import Path

from apps.core.storage import (
    media_delete,
    media_delete_prefix,
    media_listdir,
    media_prune_empty,
    media_upload,
)

from .models import Generation, StoryboardScene


def generation_output_prefix(*, generation_id) -> str:
    return f"generations/{generation_id}"


def generation_store_output(*, generation_id, path: str | Path, name: str) -> str:
    """Upload a file a worker made in its scratch folder as `generations/<id>/<name>`; return
    the stored name to keep on the row."""
    prefix = generation_output_prefix(generation_id=generation_id)
    return media_upload(path, name=f"{prefix}/{name}")


def generation_discard_outputs(*, generation_id) -> None:
    """Remove what a failed, canceled or superseded job stored. A storyboard keeps the clips of
    its finished scenes (they were paid for, are shown per scene, and a retry re-assembles from
    them); its merged outputs and the clips of unfinished scenes go."""
    prefix = generation_output_prefix(generation_id=generation_id)
    if not Generation.objects.filter(pk=generation_id, kind=Generation.Kind.STORYBOARD).exists():
        media_delete_prefix(prefix)
        return
    keep = {
        str(index)
        for index in StoryboardScene.objects.filter(
            generation_id=generation_id, status=StoryboardScene.Status.SUCCEEDED
        ).values_list("index", flat=True)
    }
    folders, files = media_listdir(prefix)
    for file in files:
        media_delete(f"{prefix}/{file}")
    for folder in folders:
        if folder != "scenes":
            media_delete_prefix(f"{prefix}/{folder}")
            continue
        for scene in media_listdir(f"{prefix}/scenes")[0]:
            if scene not in keep:
                media_delete_prefix(f"{prefix}/scenes/{scene}")
    media_prune_empty(prefix)
