"""Pages and the Stripe webhook, outside /api/v1/. Included at the site root by config/urls.py."""

from django.urls import path

from . import views, webhooks

app_name = "billing"
urlpatterns = [
    path("credits/", views.credits_page, name="credits"),
    path("credits/buy/<uuid:pack_id>/", views.buy_pack, name="buy"),
    path("credits/success/", views.checkout_success, name="success"),
    path("credits/cancel/", views.checkout_cancel, name="cancel"),
    path("billing/stripe/webhook/", webhooks.stripe_webhook, name="stripe-webhook"),
]
