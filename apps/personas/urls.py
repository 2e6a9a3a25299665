from django.urls import path

from . import apis

urlpatterns = [
    path("personas/", apis.PersonaListCreateApi.as_view(), name="persona-list"),
    path("personas/draft/", apis.PersonaDraftApi.as_view(), name="persona-draft"),
    path("personas/<uuid:pk>/", apis.PersonaDetailApi.as_view(), name="persona-detail"),
]
