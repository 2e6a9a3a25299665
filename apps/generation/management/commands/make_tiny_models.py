"""`python manage.py make_tiny_models var/models`: tiny SVD and Zeroscope models to try the
diffusers path without a GPU or a download. Their videos are noise; the code path is the real
one (from_pretrained, the pipelines, progress, encoding)."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Write tiny random-weight Stable Video Diffusion and Zeroscope models (diffusers "
        "save_pretrained layout) to FOLDER/svd and FOLDER/zeroscope."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", help="where to write svd/ and zeroscope/ (e.g. var/models)")
        parser.add_argument(
            "--svd-frames",
            type=int,
            default=25,
            help="the SVD model's frame limit (UNet config num_frames; 25 like SVD-XT)",
        )

    def handle(self, *args, folder: str, svd_frames: int, **options):
        try:
            from workers.tiny_models import write_tiny_models
        except ImportError as exc:  # torch/diffusers are worker requirements
            raise CommandError(
                f"The diffusers stack is not installed ({exc}); "
                "pip install -r requirements/worker.txt"
            ) from exc
        if svd_frames < 1:
            raise CommandError("--svd-frames must be at least 1.")
        started = time.monotonic()
        paths = write_tiny_models(Path(folder), svd_num_frames=svd_frames)
        svd, zeroscope = paths["svd"], paths["zeroscope"]
        self.stdout.write(
            self.style.SUCCESS(f"Wrote {svd} and {zeroscope} in {time.monotonic() - started:.1f}s.")
        )
        self.stdout.write(
            "Use them (web and worker processes both need the settings):\n"
            f"  SVD_MODEL={svd} ZEROSCOPE_MODEL={zeroscope} GENERATION_ENGINE=auto\n"
            "They are random weights: the videos are noise, the code path is the real one. "
            "Keep width/height small on a CPU (e.g. 256x256, a few steps)."
        )
