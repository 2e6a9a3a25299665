from django.urls import path

from . import apis

urlpatterns = [
    path("webhooks/secret/", apis.WebhookSecretApi.as_view(), name="webhook-secret"),
    path(
        "generations/<uuid:pk>/webhooks/",
        apis.GenerationWebhooksApi.as_view(),
        name="generation-webhooks",
    ),
]
