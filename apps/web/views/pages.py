"""Public pages: the landing page and the error pages."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.urls import reverse
from django.views.decorators.http import require_safe

from apps.billing.selectors import credit_packs_active
from apps.content.selectors import content_public_list
from apps.generation.engines import engine_choose
from apps.generation.models import Generation

SHOWCASE_SIZE = 8


@require_safe
def home(request):
    showcase = list(content_public_list()[:SHOWCASE_SIZE])
    context = {
        "free_credits": settings.FREE_CREDITS,
        "showcase": showcase,
        "packs": credit_packs_active(),
        # What this server really runs for each kind, so the copy promises nothing else.
        "engines": {
            kind: engine_choose(kind=kind, requested="auto")
            for kind in (Generation.Kind.IMAGE_TO_VIDEO, Generation.Kind.TEXT_TO_VIDEO)
        },
    }
    first_poster = next((item for item in showcase if item.generation.thumbnail), None)
    if first_poster is not None:
        context["og_image"] = request.build_absolute_uri(
            reverse("content:media", args=[first_poster.pk, "thumbnail"])
        )
    return render(request, "web/home.html", context)


def page_not_found(request, exception=None):
    context = {
        "page_title": "Page not found",
        "page_description": "This page does not exist.",
    }
    return render(request, "404.html", context, status=404)


def server_error(request):
    # No request context: nothing here may touch the database, which may be what failed.
    html = loader.get_template("500.html").render(
        {
            "SITE_NAME": settings.SITE_NAME,
            "page_title": "Something went wrong",
            "page_description": "The server hit an error.",
        }
    )
    return HttpResponseServerError(html)
