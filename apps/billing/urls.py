from django.urls import path

from . import apis

urlpatterns = [
    path("credits/ledger/", apis.LedgerListApi.as_view(), name="credits-ledger"),
    path("billing/packs/", apis.CreditPackListApi.as_view(), name="billing-packs"),
    path("billing/checkout/", apis.CheckoutApi.as_view(), name="billing-checkout"),
]
