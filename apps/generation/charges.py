"""The ledger side of a job: the references it is charged under, and its refund.

A single job is charged once, under `generation:<id>` (Generation.spend_reference), and refunded
under that spend. A storyboard is charged once at create too, but each part that does not produce
its output is refunded on its own, under a reference unique to it, so each refund happens at most
once: `storyboard:<id>:scene:<i>` per scene, `storyboard:<id>:assembly` for the assembly. A scene
retry is its own spend, `storyboard:<id>:scene:<i>:retry:<n>`, refunded under that name.
"""

from __future__ import annotations

from django.utils import timezone

from apps.billing.models import LedgerEntry
from apps.billing.services import credits_refund_spend, ledger_apply

from .models import Generation, StoryboardScene

Status = Generation.Status
SceneStatus = StoryboardScene.Status


def scene_reference(*, generation_id, index: int, retry: int = 0) -> str:
    base = f"storyboard:{generation_id}:scene:{index}"
    return f"{base}:retry:{retry}" if retry else base


def assembly_reference(*, generation_id) -> str:
    return f"storyboard:{generation_id}:assembly"


def generation_refund(*, generation_id, note: str) -> None:
    """Refund a job that ended without its video. Called by whoever won its move to failed or
    canceled, inside that transaction; calling it again refunds nothing twice."""
    if Generation.objects.filter(pk=generation_id, kind=Generation.Kind.STORYBOARD).exists():
        # Only the parts that produced nothing: each scene and the assembly on its own.
        storyboard_refund_unproduced(generation_id=generation_id, note=note)
        return
    credits_refund_spend(spend_reference=f"generation:{generation_id}", note=note)


def storyboard_refund_unproduced(*, generation_id, note: str) -> int:
    """Stop the scenes that have not finished and refund every part without its output.

    Each part is refunded under its own reference, so calling this again refunds nothing twice.
    Returns the credits given back by this call.
    """
    generation = Generation.objects.select_related("user").get(pk=generation_id)
    now = timezone.now()
    StoryboardScene.objects.filter(
        generation_id=generation_id, status__in=[SceneStatus.QUEUED, SceneStatus.RUNNING]
    ).update(status=SceneStatus.CANCELED, finished_at=now, updated_at=now)
    refunded = 0
    for scene in generation.scenes.exclude(status=SceneStatus.SUCCEEDED):
        entry = _refund_part(
            user=generation.user,
            reference=scene.charge_reference,
            amount=scene.cost_credits,
            note=f"{note} (scene {scene.index + 1})",
        )
        refunded += entry.amount if entry else 0
    assembly = int(generation.params.get("assembly_credits") or 0)
    if generation.status != Status.SUCCEEDED:
        entry = _refund_part(
            user=generation.user,
            reference=assembly_reference(generation_id=generation_id),
            amount=assembly,
            note=f"{note} (assembly)",
        )
        refunded += entry.amount if entry else 0
    return refunded


def _refund_part(*, user, reference: str, amount: int, note: str):
    if LedgerEntry.objects.filter(kind=LedgerEntry.Kind.SPEND, reference=reference).exists():
        return credits_refund_spend(spend_reference=reference, note=note)
    return ledger_apply(
        user=user, kind=LedgerEntry.Kind.REFUND, amount=amount, reference=reference, note=note
    )
