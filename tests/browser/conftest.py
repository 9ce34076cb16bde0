"""Headless Chromium from Debian's packages (`chromium`, `chromium-driver`), driven by Selenium through the
system chromedriver: nothing is downloaded. Without them the browser tests are skipped, and the run says so
loudly at its end; with CI=true they never skip (`.ci/run` installs the two packages)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOT_DIR") or Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
)
MISSING = "the browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"


def browser_missing() -> str | None:
    return None if CHROMIUM and CHROMEDRIVER else MISSING


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    if missing := browser_missing():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {missing}")
        pytest.skip(missing)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """A picture of the page for people to look at after the run (artifacts/, not in git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, min(max(int(height) + 120, 600), 6000))
    driver.save_screenshot(str(path))
    return path
