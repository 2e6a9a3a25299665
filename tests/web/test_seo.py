"""What crawlers and link previews get: robots.txt, sitemap.xml, and the default social card as
the og:image / twitter:image of pages without a picture of their own."""

import re
from xml.etree import ElementTree

import pytest
from django.contrib.staticfiles import finders
from PIL import Image

from tests.content.conftest import make_item

pytestmark = pytest.mark.django_db

SITEMAP_NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
CARD_URL = "http://testserver/static/img/social-card.png"


def metas(html: str, attr: str, name: str) -> list[str]:
    return re.findall(rf'<meta {attr}="{re.escape(name)}" content="([^"]*)"', html)


def sitemap_locations(client) -> list[str]:
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    return [node.text for node in root.findall("s:url/s:loc", SITEMAP_NS)]


def test_robots_txt_keeps_crawlers_out_of_private_areas_and_names_the_sitemap(client):
    response = client.get("/robots.txt")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    assert lines[0] == "User-agent: *"
    disallowed = {line.split(": ", 1)[1] for line in lines if line.startswith("Disallow: ")}
    for private in ("/api/", "/admin/", "/jobs/", "/create/", "/accounts/", "/media/"):
        assert private in disallowed
    assert "/" not in disallowed and "/explore/" not in disallowed and "/v/" not in disallowed
    # Link-preview bots honour robots.txt: the public library's posters stay fetchable.
    assert "Allow: /media/content/" in lines
    assert "Sitemap: http://testserver/sitemap.xml" in lines


def test_sitemap_lists_public_pages_and_only_public_approved_videos(client, user):
    shown = make_item(user, visibility="public", status="approved")
    pending = make_item(user, visibility="public", status="pending")
    unlisted = make_item(user, visibility="unlisted", status="approved")
    private = make_item(user, visibility="private", status="approved")

    locations = sitemap_locations(client)

    assert "http://testserver/" in locations
    assert "http://testserver/explore/" in locations
    assert f"http://testserver/v/{shown.pk}/" in locations
    for hidden in (pending, unlisted, private):
        assert f"http://testserver/v/{hidden.pk}/" not in locations
    # Nothing the robots.txt forbids, and the request's host, not the sites framework's.
    assert not any("/accounts/" in url or "/create/" in url for url in locations)
    assert not any("example.com" in url for url in locations)


def test_sitemap_of_a_fresh_install_has_the_public_pages(client):
    assert sitemap_locations(client) == ["http://testserver/", "http://testserver/explore/"]


def test_social_card_is_a_1200x630_png_served_as_a_static_file():
    path = finders.find("img/social-card.png")
    assert path, "static/img/social-card.png is missing"
    with Image.open(path) as card:
        assert card.format == "PNG"
        assert card.size == (1200, 630)


@pytest.mark.parametrize("path", ["/", "/explore/", "/accounts/login/", "/accounts/signup/"])
def test_public_pages_without_a_picture_use_the_social_card(client, path):
    html = client.get(path).content.decode()

    assert metas(html, "property", "og:image") == [CARD_URL]
    assert metas(html, "name", "twitter:image") == [CARD_URL]
    assert metas(html, "property", "og:image:width") == ["1200"]
    assert metas(html, "property", "og:image:height") == ["630"]
    assert metas(html, "name", "twitter:card") == ["summary_large_image"]


def test_a_poster_wins_over_the_social_card_and_is_the_only_og_image(client, user):
    item = make_item(user, visibility="public", status="approved")

    for path in ("/", f"/v/{item.pk}/"):
        html = client.get(path).content.decode()
        images = metas(html, "property", "og:image")
        assert images == [f"http://testserver/media/content/{item.pk}/thumbnail"], path
        assert CARD_URL not in html


def test_an_empty_showcase_is_a_call_to_action_not_an_empty_box(client, user):
    html = client.get("/").content.decode()
    assert "data-showcase-empty" in html
    assert "Made on AI Lounge" not in html
    assert 'href="/accounts/signup/"' in html

    client.force_login(user)
    html = client.get("/").content.decode()
    assert "data-showcase-empty" in html and 'href="/create/"' in html

    make_item(user, visibility="public", status="approved", prompt="neon harbour")
    html = client.get("/").content.decode()
    assert "data-showcase-empty" not in html and "Made on AI Lounge" in html
