"""Seed three credit packs so a fresh install can sell credits as soon as Stripe keys are set."""

from django.db import migrations

DEFAULT_PACKS = [
    # name, credits, price in cents (USD), sort order
    ("Starter", 100, 500, 10),
    ("Creator", 500, 2000, 20),
    ("Studio", 2000, 6000, 30),
]


def seed_packs(apps, schema_editor):
    CreditPack = apps.get_model("billing", "CreditPack")
    if CreditPack.objects.exists():
        return
    for name, credits, price_cents, sort_order in DEFAULT_PACKS:
        CreditPack.objects.create(
            name=name,
            credits=credits,
            price_cents=price_cents,
            currency="usd",
            sort_order=sort_order,
            active=True,
        )


def unseed_packs(apps, schema_editor):
    CreditPack = apps.get_model("billing", "CreditPack")
    Purchase = apps.get_model("billing", "Purchase")
    for name, credits, price_cents, _ in DEFAULT_PACKS:
        packs = CreditPack.objects.filter(name=name, credits=credits, price_cents=price_cents)
        # Packs that were bought are kept (purchases point at them); the rest go.
        packs.exclude(pk__in=Purchase.objects.values("pack_id")).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_packs_purchases_events"),
    ]

    operations = [
        migrations.RunPython(seed_packs, unseed_packs),
    ]
