from django.urls import path

from . import apis, views

app_name = "personas"
urlpatterns = [
    path("personas/", views.persona_list_page, name="list"),
    path("personas/new/", views.persona_create_page, name="create"),
    path("personas/draft/", views.persona_draft_page, name="draft"),
    path("personas/<uuid:pk>/", views.persona_detail_page, name="detail"),
    path("personas/<uuid:pk>/edit/", views.persona_edit_page, name="edit"),
    path("personas/<uuid:pk>/delete/", views.persona_delete_page, name="delete"),
    path(
        "media/personas/<uuid:pk>/reference",
        apis.PersonaReferenceImageApi.as_view(),
        name="reference_image",
    ),
]
