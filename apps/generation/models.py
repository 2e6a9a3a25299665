"""A Generation: one request to turn an image or a prompt into a video, and its life.

States: queued → running → succeeded | failed | canceled (queued may go straight to canceled).
A storyboard is a parent Generation plus one StoryboardScene per scene; a failed storyboard
may go back to queued when its owner retries a scene (apps.generation.storyboards).
Every transition is a conditional UPDATE in apps.generation.services, so a task delivered twice
or a race between cancel and finish cannot apply two transitions.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


def _input_path(instance, filename: str) -> str:
    return f"uploads/{instance.user_id}/{uuid.uuid4().hex}.png"


class Generation(models.Model):
    class Kind(models.TextChoices):
        IMAGE_TO_VIDEO = "image_to_video"
        TEXT_TO_VIDEO = "text_to_video"
        STORYBOARD = "storyboard"

    class Engine(models.TextChoices):
        AUTO = "auto"
        SVD = "svd"
        ZEROSCOPE = "zeroscope"
        PROCEDURAL = "procedural"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    engine_requested = models.CharField(max_length=16, choices=Engine.choices, default=Engine.AUTO)
    # The engine chosen at create time, replaced by the one that actually ran.
    engine = models.CharField(max_length=16, choices=Engine.choices)
    queue = models.CharField(max_length=16, default="cpu")

    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    stage = models.CharField(max_length=32, default="queued")
    progress = models.FloatField(default=0.0)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)

    persona = models.ForeignKey(
        "personas.Persona",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generations",
    )
    prompt = models.TextField(blank=True)
    negative_prompt = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    seed = models.BigIntegerField(default=0)
    notes = models.JSONField(default=list, blank=True)
    cost_credits = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    input_image = models.FileField(upload_to=_input_path, blank=True, max_length=300)
    # Storyboards: the uploaded narration track, and the WebVTT subtitles written at assembly.
    narration_audio = models.FileField(blank=True, max_length=300)
    subtitles = models.FileField(blank=True, max_length=300)
    video = models.FileField(blank=True, max_length=300)
    thumbnail = models.FileField(blank=True, max_length=300)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    num_frames = models.PositiveIntegerField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    # Set on success (workers.recipe, docs/architecture.md): seconds of engine work (a
    # storyboard: the sum of its scenes'), and how the clip was made: engine, model, model
    # revision and its source, device, software versions.
    generation_time = models.FloatField(null=True, blank=True)
    recipe = models.JSONField(default=dict, blank=True)

    # Outgoing webhook (apps.webhooks): where to POST this job's events, and which ones.
    webhook = models.URLField(max_length=2000, blank=True)
    webhook_events_filter = models.JSONField(default=list, blank=True)

    idempotency_key = models.CharField(max_length=255, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # The broker message that should run this job now (the job's task, or a storyboard's
    # assembly): its id, when it was sent and how often it had to be sent again because the
    # broker lost it (apps.generation.requeue).
    task_id = models.CharField(max_length=64, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    requeues = models.PositiveIntegerField(default=0)
    assembly_runs = models.PositiveIntegerField(default=0)  # storyboards: assembly starts

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=("user", "-created_at")),
            models.Index(fields=("queue", "status", "created_at")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=("user", "idempotency_key"),
                condition=~Q(idempotency_key=""),
                name="generation_unique_user_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="generation_progress_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def spend_reference(self) -> str:
        return f"generation:{self.id}"

    @property
    def part_reference_prefix(self) -> str:
        """The start of the ledger references of a storyboard's parts, each charged and refunded
        on its own: `storyboard:<id>:scene:<i>[:retry:<n>]`, `storyboard:<id>:assembly`."""
        return f"storyboard:{self.id}:"


def _scene_image_path(instance, filename: str) -> str:
    return f"uploads/{instance.generation.user_id}/{uuid.uuid4().hex}.png"


class StoryboardScene(models.Model):
    """One scene of a storyboard: what to generate, its own clip, and its own charge.

    `charge_reference` names the ledger movement that paid for the scene: the storyboard's one
    spend at create (`storyboard:<id>:scene:<i>`, refunded as such) or a retry's own spend
    (`storyboard:<id>:scene:<i>:retry:<n>`). A refund reuses it, so it happens at most once.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="scenes")
    index = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=Generation.Kind.choices)
    engine = models.CharField(max_length=16, choices=Generation.Engine.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    prompt = models.TextField(blank=True)
    image = models.FileField(upload_to=_scene_image_path, blank=True, max_length=300)
    duration = models.FloatField()
    transition = models.CharField(max_length=16)
    params = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0.0)
    video = models.FileField(blank=True, max_length=300)
    generation_time = models.FloatField(null=True, blank=True)  # as on Generation
    recipe = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    cost_credits = models.PositiveIntegerField(default=0)
    charge_reference = models.CharField(max_length=200)
    worker = models.CharField(max_length=255, blank=True)
    task_id = models.CharField(max_length=64, blank=True)  # as on Generation
    enqueued_at = models.DateTimeField(null=True, blank=True)
    requeues = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("generation", "index")
        constraints = [
            models.UniqueConstraint(
                fields=("generation", "index"), name="storyboard_scene_unique_index"
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1),
                name="storyboard_scene_progress_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"scene {self.index + 1} of {self.generation_id} ({self.status})"
