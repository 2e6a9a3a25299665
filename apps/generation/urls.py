from django.urls import path

from . import apis

urlpatterns = [
    path("generations/", apis.GenerationListCreateApi.as_view(), name="generation-list"),
    path("generations/quote/", apis.GenerationQuoteApi.as_view(), name="generation-quote"),
    path("generations/<uuid:pk>/", apis.GenerationDetailApi.as_view(), name="generation-detail"),
    path(
        "generations/<uuid:pk>/cancel/",
        apis.GenerationCancelApi.as_view(),
        name="generation-cancel",
    ),
    path(
        "generations/<uuid:pk>/retry/",
        apis.GenerationRetryApi.as_view(),
        name="generation-retry",
    ),
    path(
        "generations/<uuid:pk>/rerun/",
        apis.GenerationRerunApi.as_view(),
        name="generation-rerun",
    ),
    path(
        "generations/<uuid:pk>/scenes/<int:index>/retry/",
        apis.GenerationSceneRetryApi.as_view(),
        name="generation-scene-retry",
    ),
]
