from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from apps.accounts.apis import MeApi, TokenObtainApi
from apps.core.apis import PingApi
from apps.core.views import api_not_found
from apps.generation.apis import GenerationMediaApi, GenerationSceneMediaApi
from apps.web.views.seo import robots_txt, sitemap_xml

api_v1 = [
    path("auth/token/", TokenObtainApi.as_view(), name="api-token"),
    path("me/", MeApi.as_view(), name="api-me"),
    path("ping/", PingApi.as_view(), name="api-ping"),
    path("", include("apps.generation.urls")),
    path("", include("apps.billing.urls")),
    path("", include("apps.personas.urls")),
    path("", include("apps.content.urls")),
    path("", include("apps.webhooks.urls")),
]

urlpatterns = [
    path("robots.txt", robots_txt, name="robots"),
    path("sitemap.xml", sitemap_xml, name="sitemap"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    # Whatever no API route takes (a malformed id too) answers the API's JSON 404.
    re_path(r"^api/", api_not_found),
    path("accounts/", include("allauth.urls")),
    re_path(
        r"^media/generations/(?P<pk>[0-9a-f-]{36})/(?P<name>video|thumbnail|subtitles)$",
        GenerationMediaApi.as_view(),
        name="generation-media",
    ),
    re_path(
        r"^media/generations/(?P<pk>[0-9a-f-]{36})/scenes/(?P<index>[0-9]{1,2})/video$",
        GenerationSceneMediaApi.as_view(),
        name="generation-scene-media",
    ),
    path("account/", include("apps.accounts.web_urls")),
    path("account/", include("apps.webhooks.web_urls")),
    path("", include("apps.billing.web_urls")),
    path("", include("apps.personas.web_urls")),
    path("", include("apps.content.web_urls")),
    path("", include("apps.web.urls")),
]

handler400 = "apps.core.http.bad_request"
handler404 = "apps.web.views.pages.page_not_found"
handler500 = "apps.web.views.pages.server_error"
