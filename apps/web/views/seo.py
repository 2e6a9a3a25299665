"""robots.txt and sitemap.xml: what crawlers may fetch, and the public pages they should.

The sitemap's URLs take the request's own host (a RequestSite), never the sites framework's
stored domain (example.com on a fresh install), so they are right behind any host name.
"""

from __future__ import annotations

from django.contrib.sitemaps import Sitemap
from django.contrib.sites.requests import RequestSite
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from apps.content.selectors import content_public_list

# Private or per-user areas, the API and the media endpoints: nothing a search result helps.
# The one exception is the public library's media (/media/content/, served only for shared and
# approved videos): the share pages' og:image and twitter:player point there, and the bots that
# draw link previews honour robots.txt.
ALLOWED = ("/media/content/",)
DISALLOWED = (
    "/api/",
    "/admin/",
    "/accounts/",
    "/account/",
    "/create/",
    "/jobs/",
    "/gallery/",
    "/credits/",
    "/personas/",
    "/media/",
)


class PublicPagesSitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.8

    def items(self):
        return ["web:home", "content:explore"]

    def location(self, item):
        return reverse(item)


class PublicVideosSitemap(Sitemap):
    """Every public, approved video's share page (what the explore page shows)."""

    changefreq = "monthly"
    priority = 0.5
    limit = 5000

    def items(self):
        return content_public_list().only("pk", "updated_at").select_related(None)

    def location(self, item):
        return reverse("content:share", args=[item.pk])

    def lastmod(self, item):
        return item.updated_at


SITEMAPS = {"pages": PublicPagesSitemap(), "videos": PublicVideosSitemap()}


@require_safe
def robots_txt(request):
    lines = [
        "User-agent: *",
        *(f"Allow: {path}" for path in ALLOWED),
        *(f"Disallow: {path}" for path in DISALLOWED),
        "",
    ]
    lines.append(f"Sitemap: {request.build_absolute_uri(reverse('sitemap'))}")
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")


@require_safe
def sitemap_xml(request):
    site = RequestSite(request)
    urls = []
    for sitemap in SITEMAPS.values():
        urls.extend(sitemap.get_urls(site=site, protocol=request.scheme))
    return TemplateResponse(
        request, "sitemap.xml", {"urlset": urls}, content_type="application/xml; charset=utf-8"
    )
