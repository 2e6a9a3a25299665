"""What the browser tests share: Debian's Chromium, the page widths, pages that fail on
JavaScript errors, and screenshots kept under test-artifacts/screenshots/."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORTS = [{"width": 1440, "height": 900}, {"width": 375, "height": 812}]


@contextmanager
def open_page(browser, base_url: str, *, viewport=None, timeout_ms: int = 15_000):
    """A page in a fresh context; on the way out the context closes and the page must not have
    raised a JavaScript error."""
    context = browser.new_context(base_url=base_url, viewport=viewport or VIEWPORTS[0])
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
        # ORM calls made while Playwright's loop runs get their own connection: close it, or
        # PostgreSQL refuses to drop the test database at the end of the run.
        connections.close_all()
    assert not errors, f"JavaScript errors: {errors}"


def screenshot(page, name: str) -> None:
    """Save the page at each width, and check that the phone width never scrolls sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    for viewport in VIEWPORTS:
        width = viewport["width"]
        page.set_viewport_size(viewport)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(VIEWPORTS[0])
