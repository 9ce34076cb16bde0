"""The web view in a real browser (headless Chromium): signing in with Slack by clicking, the three pages as a
person reads them (light and dark, laptop and phone), an open incident followed without a reload, a private
incident kept from a non-member, and pages that keep their own Content-Security-Policy (the browser reports a
violation in its console)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.conftest import screenshot
from tests.conftest import RunningBot
from tests.driver import ALICE, BOB, declare, resolve
from tests.fakes.slack import TEAM_ID

DAVE = "U0DAVE001"
WAIT_SECONDS = 15


def until(driver: WebDriver, predicate: Callable[[WebDriver], Any]) -> None:
    """Waits up to WAIT_SECONDS for `predicate`; an element read while the page was replaced is read again."""
    WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)).until(predicate)


def sign_in(driver: WebDriver, bot: RunningBot, user: str, path: str = "/", team: str = TEAM_ID) -> None:
    """Opens `path`, is asked to sign in, clicks Sign in with Slack; the fake Slack signs `user` in."""
    click_sign_in(driver, bot, user, path, team)
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "form.signout"))


def click_sign_in(driver: WebDriver, bot: RunningBot, user: str, path: str = "/", team: str = TEAM_ID) -> None:
    """Opens `path`, is asked to sign in, and clicks Sign in with Slack (the caller waits for where it ends)."""
    bot.fake.openid.sign_in_as(user, team, name=user.lower())
    driver.get(bot.web_url + path)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Sign in"
    driver.find_element(By.LINK_TEXT, "Sign in with Slack").click()


def heading(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "h1").text)


def csp_violations(driver: WebDriver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]


def test_a_member_signs_in_with_slack_and_reads_every_page(web_bot: RunningBot, browser: WebDriver) -> None:
    channel = declare(web_bot, "declare sev1 Org Chat returns errors")
    web_bot.slack.command("note Provider 5xx since 13:52", user=BOB, channel_id=channel.id)
    web_bot.fake.wait_until(lambda: any("Provider 5xx" in e.text for e in web_bot.services.timeline.entries(1)))
    declare(web_bot, "declare sev3 Slow nightly sync", prefix="inc-2")
    resolve(web_bot, web_bot.fake.channel_named("inc-2"))  # type: ignore[arg-type]

    sign_in(browser, web_bot, ALICE, "/incidents/1")
    assert browser.current_url == web_bot.web_url + "/incidents/1"  # back where the sign-in began
    assert heading(browser) == "INC-1: Org Chat returns errors"
    timeline = browser.find_element(By.CSS_SELECTOR, "table.timeline").text
    assert "Provider 5xx since 13:52" in timeline and "u0bob0001" in timeline
    assert "Audit trail: OK" in browser.find_element(By.CSS_SELECTOR, ".audit").text
    assert (
        browser.find_element(By.PARTIAL_LINK_TEXT, "in Slack")
        .get_attribute("href")
        .startswith("https://slack.com/app_redirect?channel=")
    )
    assert "Post-mortem draft" in browser.find_element(By.CSS_SELECTOR, "section.postmortem h2").text
    screenshot(browser, "incident-laptop-light")

    browser.find_element(By.LINK_TEXT, "Incidents").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "table.incidents tbody tr")
    assert [row.find_element(By.TAG_NAME, "a").text for row in rows] == ["INC-1", "INC-2"]  # open first
    assert "resolved" in rows[1].text and "SEV-3" in rows[1].text
    screenshot(browser, "incidents-laptop-light")

    Select(browser.find_element(By.NAME, "severity")).select_by_visible_text("SEV-3")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    until(browser, lambda d: "severity=SEV-3" in d.current_url)
    assert [r.find_element(By.TAG_NAME, "a").text for r in browser.find_elements(By.CSS_SELECTOR, "tbody tr")] == [
        "INC-2"
    ]
    labels = [
        label.text.split("\n")[0].strip() for label in browser.find_elements(By.CSS_SELECTOR, "form.filters label")
    ]
    assert labels == ["Status", "Severity", "Drills", "Text"]  # every field is labelled

    browser.find_element(By.LINK_TEXT, "Insights").click()
    assert heading(browser) == "Insights"
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 3 and all(chart.get_attribute("role") == "img" for chart in charts)
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.sev1")
    assert (
        browser.find_element(By.LINK_TEXT, "Download these numbers as CSV")
        .get_attribute("href")
        .endswith("/insights.csv")
    )
    screenshot(browser, "insights-laptop-light")

    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    browser.set_window_size(390, 844)
    browser.get(web_bot.web_url + "/incidents/1")
    background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(26, 29, 33)"  # the dark palette
    screenshot(browser, "incident-phone-dark")
    browser.get(web_bot.web_url + "/")
    screenshot(browser, "incidents-phone-dark")
    assert csp_violations(browser) == []

    browser.find_element(By.CSS_SELECTOR, "form.signout button").click()
    until(browser, lambda d: heading(d) == "Signed out")
    browser.get(web_bot.web_url + "/incidents/1")
    assert heading(browser) == "Sign in"


def test_an_open_incidents_page_follows_it_without_a_reload(web_bot: RunningBot, browser: WebDriver) -> None:
    channel = declare(web_bot, "declare sev2 Pipelines stalled")
    sign_in(browser, web_bot, ALICE, "/incidents/1")
    browser.execute_script("window.loadedOnce = 'yes'")  # a reload would lose it
    badge = browser.find_element(By.CSS_SELECTOR, ".badges .sev").text
    assert badge == "SEV-2"

    web_bot.slack.command("sev 1", user=BOB, channel_id=channel.id)
    web_bot.fake.wait_until(lambda: web_bot.services.incidents.find(1).severity.label == "SEV-1")  # type: ignore[union-attr]
    changed = time.monotonic()
    until(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".badges .sev").text == "SEV-1")
    followed_in = time.monotonic() - changed
    assert browser.execute_script("return window.loadedOnce") == "yes"
    assert "Severity SEV-2 → SEV-1" in browser.find_element(By.CSS_SELECTOR, "table.timeline").text
    assert "Updated at" in browser.find_element(By.ID, "live-status").text
    print(f"the page showed the change {followed_in:.1f} s after it was made")
    assert csp_violations(browser) == []

    session = browser.get_cookie("incident_session")
    assert session is not None and session["httpOnly"] and session["sameSite"] == "Lax"
    web_bot.services.web.sign_in.sign_out(session["value"])  # type: ignore[union-attr]  # the session ends elsewhere
    until(browser, lambda d: "No longer following" in d.find_element(By.ID, "live-status").text)


def test_a_private_incident_is_absent_for_a_non_member(web_bot: RunningBot, browser: WebDriver) -> None:
    declare(web_bot, "declare --private sev1 Possible exfiltration")
    declare(web_bot, "declare sev3 Slow pipelines", prefix="inc-2")
    sign_in(browser, web_bot, DAVE)
    listed = browser.find_element(By.CSS_SELECTOR, "main").text
    assert "Slow pipelines" in listed and "Possible exfiltration" not in listed
    browser.get(web_bot.web_url + "/incidents/1")
    assert heading(browser) == "No such incident"
    browser.get(web_bot.web_url + "/insights")
    assert "SEV-1" not in browser.find_element(By.CSS_SELECTOR, "table tbody").text
    screenshot(browser, "private-incident-hidden")


def refused_in(driver: WebDriver) -> str:
    """The page a refused sign-in ends on: its sentence; and no session cookie was set."""
    until(driver, lambda d: heading(d) == "Not signed in")
    assert driver.get_cookie("incident_session") is None
    assert not driver.find_elements(By.CSS_SELECTOR, "form.signout")
    return str(driver.find_element(By.TAG_NAME, "main").text)


@pytest.mark.parametrize(
    ("team", "guest", "sentence"),
    [("T0OTHER01", False, "another Slack workspace"), (TEAM_ID, True, "Guests of the workspace cannot read")],
)
def test_another_workspace_and_a_guest_are_refused(
    web_bot: RunningBot, browser: WebDriver, team: str, guest: bool, sentence: str
) -> None:
    declare(web_bot)
    if guest:
        web_bot.fake.guests.add(BOB)
    click_sign_in(browser, web_bot, BOB, "/incidents/1", team)
    assert sentence in refused_in(browser)
    browser.get(web_bot.web_url + "/incidents/1")
    assert heading(browser) == "Sign in"


def test_a_tampered_or_replayed_callback_is_refused_with_a_page(web_bot: RunningBot, browser: WebDriver) -> None:
    web_bot.fake.openid.tamper_state = True
    click_sign_in(browser, web_bot, ALICE)
    assert "was not started here" in refused_in(browser)
    screenshot(browser, "sign-in-refused")

    web_bot.fake.openid.tamper_state = False
    sign_in(browser, web_bot, ALICE)
    used = web_bot.fake.openid.redirects[-1]
    browser.delete_all_cookies()
    browser.get(used)  # the same callback again: its state was taken
    assert "already used" in refused_in(browser)
