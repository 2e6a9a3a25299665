"""The content app's answers to other apps' signals (connected in ContentConfig.ready)."""

from __future__ import annotations

from django.dispatch import receiver

from apps.generation.signals import generation_succeeded

from .services import content_item_create_for_generation


@receiver(generation_succeeded, dispatch_uid="content.item_for_succeeded_generation")
def item_for_succeeded_generation(sender, *, generation, **kwargs) -> None:
    """A succeeded generation gets its library item in the transaction that marks it succeeded."""
    content_item_create_for_generation(generation=generation)
