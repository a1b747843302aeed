"""A real headless Chromium for the admin page's tests: Debian's `chromium`, driven by Playwright.

Playwright's own browser downloads are never used (`playwright install` is not run): the tests
launch the system's binary with `executable_path`. Without it they are skipped with the reason,
except in CI (`CI=true`), where that fails them (`.ci/run` installs the package). Screenshots
are saved under `artifacts_dir()`; with `LITECURSOR_DOCS_SCREENSHOTS=1` the README's copies in
`docs/` are written too (the page as a screen shows it first).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .services import unavailable

CHROMIUM = os.environ.get("LITECURSOR_CHROMIUM", "/usr/bin/chromium")
#: no GPU, no sandbox (root in CI), and none of the background calls home that a closed
#: network refuses: only the page's own requests leave the browser
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parent.parent / "docs"
VIEWPORT = {"width": 1440, "height": 900}


def chromium_or_skip() -> str:
    path = CHROMIUM if os.path.isfile(CHROMIUM) else shutil.which("chromium")
    if path is None:
        unavailable(f"no chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    assert path is not None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        pytest.fail("the playwright package is missing: make install", pytrace=False)
    return path


@dataclass
class Browser:
    """One page in a fresh profile; JavaScript errors on the page fail the test."""

    page: Any
    base: str
    artifacts: Path
    errors: list[str] = field(default_factory=list)

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def shot(self, name: str, *, docs: bool = False) -> Path:
        """A full-page screenshot in the artifacts folder (and in docs/ when asked for and
        LITECURSOR_DOCS_SCREENSHOTS=1)."""
        path = self.artifacts / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        if docs and os.environ.get("LITECURSOR_DOCS_SCREENSHOTS") == "1":
            # the README's copy: what a screen shows first, not the whole page
            await self.page.screenshot(path=str(DOCS / f"admin-{name}.png"))
        return path


@asynccontextmanager
async def open_browser(base: str, profile: Path, artifacts: Path) -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    executable = chromium_or_skip()
    artifacts.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            args=ARGS,
            headless=True,
            # the gateway's dev certificate is from the test's own CA
            ignore_https_errors=True,
            viewport=VIEWPORT,
            device_scale_factor=1,
            color_scheme="light",
            timezone_id="UTC",
            locale="en-US",
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(15_000)
            browser = Browser(page, base, artifacts)
            page.on("pageerror", lambda e: browser.errors.append(str(e)))
            yield browser
            assert not browser.errors, f"JavaScript errors on the page: {browser.errors}"
        finally:
            await context.close()


def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`LITECURSOR_ARTIFACTS` (CI keeps it), else `artifacts/` in pytest's temporary folder."""
    env = os.environ.get("LITECURSOR_ARTIFACTS")
    return Path(env) if env else tmp_path_factory.getbasetemp() / "artifacts"
