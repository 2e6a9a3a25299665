"""Reads of personas. Every query is scoped to its owner; another user's id is a 404."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.core.exceptions import NotFound

from .models import Persona


def persona_list(*, user) -> QuerySet[Persona]:
    return Persona.objects.filter(user=user).order_by("-created_at", "-id")


def persona_get(*, user, persona_id) -> Persona:
    persona = persona_list(user=user).filter(pk=persona_id).first()
    if persona is None:
        raise NotFound("No such persona.")
    return persona
