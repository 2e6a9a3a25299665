"""REST endpoints for outgoing webhooks: the signing secret, and a job's delivery attempts."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import webhook_attempts_for_generation
from .serializers import WebhookAttemptOutputSerializer, WebhookSecretOutputSerializer
from .services import webhook_secret_get_or_create, webhook_secret_rotate


class WebhookSecretApi(APIView):
    """GET: the secret deliveries are signed with (made on first read). POST: a new one; the
    old one stops signing at once."""

    @extend_schema(responses=WebhookSecretOutputSerializer)
    def get(self, request):
        secret = webhook_secret_get_or_create(user=request.user)
        return Response(WebhookSecretOutputSerializer(secret).data)

    @extend_schema(request=None, responses=WebhookSecretOutputSerializer)
    def post(self, request):
        secret = webhook_secret_rotate(user=request.user)
        return Response(WebhookSecretOutputSerializer(secret).data)


class GenerationWebhooksApi(ListAPIView):
    """Every attempt at delivering one of the caller's jobs' webhooks, oldest first."""

    serializer_class = WebhookAttemptOutputSerializer

    def get_queryset(self):
        return webhook_attempts_for_generation(
            user=self.request.user, generation_id=self.kwargs["pk"]
        )
