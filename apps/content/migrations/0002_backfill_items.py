"""A library item for every generation that succeeded before the content library existed."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

TITLE_MAX = 120


def backfill(apps, schema_editor):
    Generation = apps.get_model("generation", "Generation")
    ContentItem = apps.get_model("content", "ContentItem")
    approved = settings.CONTENT_AUTO_APPROVE
    now = timezone.now()
    missing = Generation.objects.filter(status="succeeded", content_item__isnull=True)
    for generation in missing.iterator():
        text = " ".join((generation.prompt or "").split())
        text = text or generation.kind.replace("_", " ").capitalize()
        if len(text) > TITLE_MAX:
            text = text[: TITLE_MAX - 1].rstrip() + "…"
        ContentItem.objects.create(
            generation=generation,
            owner_id=generation.user_id,
            persona_id=generation.persona_id,
            title=text,
            visibility="private",
            moderation_status="approved" if approved else "pending",
            moderated_at=now if approved else None,
        )


class Migration(migrations.Migration):
    dependencies = [("content", "0001_initial")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
