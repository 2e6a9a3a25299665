"""The webhooks app's answers to the generation app's signals (connected in WebhooksConfig).

Each event of a job with a webhook that wants it becomes a delivery; storyboards report as one
job (their parent row), never per scene.
"""

from __future__ import annotations

from django.dispatch import receiver

from apps.generation.signals import (
    generation_finished,
    generation_progressed,
    generation_started,
)

from .services import Event, webhook_event_record


@receiver(generation_started, dispatch_uid="webhooks.start")
def deliver_start(sender, *, generation, **kwargs) -> None:
    webhook_event_record(generation=generation, event=Event.START)


@receiver(generation_progressed, dispatch_uid="webhooks.progress")
def deliver_progress(sender, *, generation, **kwargs) -> None:
    webhook_event_record(generation=generation, event=Event.PROGRESS)


@receiver(generation_finished, dispatch_uid="webhooks.completed")
def deliver_completed(sender, *, generation, **kwargs) -> None:
    webhook_event_record(generation=generation, event=Event.COMPLETED)
