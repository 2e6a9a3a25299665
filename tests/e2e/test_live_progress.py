"""The job page follows a generation live over the websocket, in a real headless Chromium.

Real daphne, a real Celery worker over Redis, the session cookie of a signed-in user. The page's
hooks: `[data-generation-id]`, the role=progressbar element, `<video>`, the Cancel form.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation.models import Generation
from apps.generation.services import generation_create
from tests import processes
from tests.e2e.browser import open_page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Records what the page shows over time, so the test sees states that pass quickly.
RECORDER = """
(el) => {
  window.__frames = [];
  const bar = el.querySelector('[role="progressbar"]');
  const record = () => {
    const eta = el.querySelector('[data-field="eta"]');
    const announce = el.querySelector('[data-announce]');
    const button = el.querySelector('[data-cancel-form] button');
    window.__frames.push({
      value: Number(bar.getAttribute('aria-valuenow')),
      stage: (el.querySelector('[data-field="stage"]') || {}).textContent,
      eta: eta && !eta.parentNode.hidden ? eta.textContent : '',
      announce: announce ? announce.textContent : '',
      button: button ? button.textContent : null,
    });
  };
  new MutationObserver(record).observe(el, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
  record();
}
"""


@pytest.fixture
def page(browser, live_web, user):
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    viewport = {"width": 1280, "height": 900}
    with open_page(browser, live_web, viewport=viewport, timeout_ms=20_000) as page:
        page.context.add_cookies(
            [{"name": name, "value": client.cookies[name].value, "url": live_web}]
        )
        page.polled = []  # REST reads of a generation: none while the socket works
        page.on(
            "request",
            lambda request: (
                "/api/v1/generations/" in request.url and page.polled.append(request.url)
            ),
        )
        yield page


def create(user, *, frames: int, width: int, height: int) -> Generation:
    return generation_create(
        user=user,
        kind="text_to_video",
        engine="procedural",
        prompt="a slow neon drift over the harbour",
        params={"num_frames": frames, "width": width, "height": height, "fps": 8},
    ).generation


def open_job(page, generation: Generation):
    page.goto(f"/jobs/{generation.pk}/")
    page.wait_for_function("() => window.AILounge && window.AILounge.live.connected")
    job = page.locator(f'[data-generation-id="{generation.pk}"]')
    job.evaluate(RECORDER)
    page.evaluate("window.__sameDocument = true")
    return job


def test_the_progress_bar_moves_and_the_video_appears_without_a_reload(page, user):
    generation = create(user, frames=96, width=1024, height=576)
    job = open_job(page, generation)
    expect(job.locator('[data-field="status"]')).to_have_text("Queued")
    expect(job.locator('[data-field="queue_position"]')).to_have_text("1")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "0")

    with processes.celery_worker(queues="cpu"):
        expect(page.locator("video")).to_be_attached(timeout=90_000)
        expect(job.locator('[data-field="status"]')).to_have_text("Succeeded")
    # The actions of a finished video appear with it; Retry is for failures only.
    expect(page.get_by_role("button", name="Extend")).to_be_visible()
    expect(page.get_by_role("button", name="Retry")).to_be_hidden()

    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    frames = page.evaluate("window.__frames")
    values = [f["value"] for f in frames]
    assert values == sorted(values), "the bar went backwards"
    assert [v for v in values if 0 < v < 100], "the bar never showed a step between the ends"
    assert "generating" in {f["stage"] for f in frames}
    assert any(f["eta"] for f in frames), "no ETA was shown while it ran"
    assert page.polled == [], "the page polled the API although the socket was open"
    assert str(generation.pk) in page.locator("video").get_attribute("src")


def test_a_dropped_socket_reconnects_and_the_cancel_button_stops_the_job(page, user, worker):
    before = credits_balance(user=user)
    generation = create(user, frames=120, width=1920, height=1080)  # long enough to cancel
    job = open_job(page, generation)
    expect(job.locator('[data-field="status"]')).to_have_text("Running", timeout=30_000)

    page.evaluate("window.AILounge.live.socket().close()")  # the network drops the socket
    page.wait_for_function("() => window.AILounge.live.opens >= 2")
    assert any(f["announce"] == "Reconnecting…" for f in page.evaluate("window.__frames"))
    expect(job.locator("[data-announce]")).to_have_text("")
    value = int(page.get_by_role("progressbar").get_attribute("aria-valuenow"))

    # Still live after the reconnect: the bar keeps moving.
    page.wait_for_function(
        f"() => Number(document.querySelector('[role=progressbar]')"
        f".getAttribute('aria-valuenow')) > {value}"
    )
    label = page.evaluate(
        """() => {
            const button = document.querySelector('[data-cancel-form] button');
            button.click();
            return button.textContent;
        }"""
    )
    assert label == "Canceling…"  # at once, before the server answers
    expect(job.locator('[data-field="status"]')).to_have_text("Canceled")
    expect(job.locator('[data-field="error_text"]')).to_contain_text("refunded")
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.get_by_role("button", name="Extend")).to_be_hidden()
    expect(page.locator("[data-credits] strong")).to_have_text(str(before))

    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    generation.refresh_from_db()
    assert generation.status == "canceled" and generation.step < 120
    refunds = LedgerEntry.objects.filter(kind="refund", reference=generation.spend_reference)
    assert refunds.count() == 1
    assert credits_balance(user=user) == before


def test_a_reload_mid_job_resumes_from_the_servers_progress_and_announces_the_end(page, user):
    generation = create(user, frames=96, width=1280, height=720)
    job = open_job(page, generation)
    # The bar is in the first paint, before any script or socket: nothing to wait for.
    first_paint = page.request.get(f"/jobs/{generation.pk}/").text()
    assert 'role="progressbar"' in first_paint and 'aria-valuenow="0"' in first_paint

    with processes.celery_worker(queues="cpu"):
        page.wait_for_function(
            "() => Number(document.querySelector('[role=progressbar]')"
            ".getAttribute('aria-valuenow')) >= 10"
        )
        generation.refresh_from_db()
        assert generation.status == "running"

        page.reload(wait_until="domcontentloaded")
        # Straight after the reload the bar shows the server's progress, not 0.
        resumed = int(page.get_by_role("progressbar").get_attribute("aria-valuenow"))
        assert resumed >= 10, f"the reloaded page started the bar at {resumed}"
        page.wait_for_function("() => window.AILounge && window.AILounge.live.connected")
        job = page.locator(f'[data-generation-id="{generation.pk}"]')
        job.evaluate(RECORDER)
        page.evaluate("window.__sameDocument = true")

        expect(page.locator("video")).to_be_attached(timeout=90_000)
        expect(job.locator('[data-field="status"]')).to_have_text("Succeeded")
        expect(page.get_by_role("status").filter(has_text="ready")).to_have_count(1)

    assert page.evaluate("window.__sameDocument === true"), "the page reloaded again"
    values = [f["value"] for f in page.evaluate("window.__frames")]
    assert values and min(values) >= resumed, "the bar went back below where it resumed"
    assert values == sorted(values)


def redis_connections_of_server(base_url: str) -> list[str]:
    """The client addresses ("ip:port") of every Redis connection of the daphne at base_url."""
    import psutil

    port = int(base_url.rsplit(":", 1)[1])
    redis_port = int(settings.REDIS_URL.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    (pid,) = {
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid
    }
    return [
        f"{c.laddr.ip}:{c.laddr.port}"
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == redis_port and c.status == psutil.CONN_ESTABLISHED
    ]


def test_a_redis_drop_under_an_open_page_still_ends_on_the_jobs_state(
    page, user, live_web, monkeypatch
):
    """The job finishes while daphne has lost Redis, so its `finished` event is lost (here:
    never sent). The websocket itself stays open: when daphne's subscriber connection is back,
    the page gets the row's state without a reload or a new socket."""
    import redis
    from django.utils import timezone

    from apps.generation import services

    monkeypatch.setattr(services, "generation_enqueue", lambda *, generation: None)
    generation = create(user, frames=8, width=128, height=72)
    job = open_job(page, generation)
    expect(job.locator('[data-field="status"]')).to_have_text("Queued")
    Generation.objects.filter(pk=generation.pk).update(
        status="succeeded", stage="saving", progress=1.0, finished_at=timezone.now()
    )
    page.wait_for_timeout(300)
    expect(job.locator('[data-field="status"]')).to_have_text("Queued")  # nothing was sent

    addresses = redis_connections_of_server(live_web)
    assert addresses, "daphne holds no Redis connection"
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        for address in addresses:
            client.execute_command("CLIENT", "KILL", "ADDR", address)
    finally:
        client.close()

    expect(job.locator('[data-field="status"]')).to_have_text("Succeeded", timeout=15_000)
    assert page.evaluate("window.AILounge.live.opens") == 1, "the page opened a new socket"
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
