from django.urls import path, re_path

from . import apis, views

app_name = "content"
urlpatterns = [
    path("explore/", views.explore, name="explore"),
    path("gallery/", views.gallery, name="gallery"),
    path("v/<uuid:pk>/", views.share, name="share"),
    path("v/<uuid:pk>/settings/", views.update, name="update"),
    path("v/<uuid:pk>/report/", views.report, name="report"),
    re_path(
        r"^media/content/(?P<pk>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/"
        r"(?P<name>video|thumbnail)$",
        apis.ContentMediaApi.as_view(),
        name="media",
    ),
]
