from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import credit_packs_active, ledger_list
from .serializers import (
    CheckoutInputSerializer,
    CheckoutOutputSerializer,
    CreditPackOutputSerializer,
    LedgerEntryOutputSerializer,
)
from .services import purchase_checkout_start
from .views import checkout_return_urls


class LedgerListApi(ListAPIView):
    serializer_class = LedgerEntryOutputSerializer

    def get_queryset(self):
        return ledger_list(user=self.request.user)


class CreditPackListApi(ListAPIView):
    """Active packs, cheapest first; a short list, so not paginated."""

    serializer_class = CreditPackOutputSerializer
    pagination_class = None

    def get_queryset(self):
        return credit_packs_active()


class CheckoutApi(APIView):
    error_statuses = {"post": (503,)}  # Stripe not configured, or not answering

    @extend_schema(request=CheckoutInputSerializer, responses={201: CheckoutOutputSerializer})
    def post(self, request):
        data = CheckoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        success_url, cancel_url = checkout_return_urls(request)
        purchase = purchase_checkout_start(
            user=request.user,
            pack_id=data.validated_data["pack"],
            success_url=success_url,
            cancel_url=cancel_url,
        )
        body = CheckoutOutputSerializer({"checkout_url": purchase.checkout_url}).data
        return Response(body, status=status.HTTP_201_CREATED)
