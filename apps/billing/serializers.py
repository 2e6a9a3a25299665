from rest_framework import serializers

from .models import CreditPack, LedgerEntry


class LedgerEntryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = LedgerEntry
        fields = ("id", "kind", "amount", "balance_after", "reference", "note", "created_at")
        read_only_fields = fields


class CreditPackOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditPack
        fields = ("id", "name", "credits", "price_cents", "currency")
        read_only_fields = fields


class CheckoutInputSerializer(serializers.Serializer):
    pack = serializers.UUIDField()


class CheckoutOutputSerializer(serializers.Serializer):
    checkout_url = serializers.URLField()
