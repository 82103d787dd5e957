"""The station page in a real browser: Debian's headless Chromium driven by Selenium through the
system chromedriver (nothing is downloaded at test time). Signs in, scans, starts slot 1, answers its
prompt, waits for PASS and opens the report; then slot 2's unit (a bench fault) ends in FAIL naming
its requirement. Screenshots (idle, running, PASS, FAIL) go to reports/station/."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.station_page import FAULTY_SLOT, RUN_TIMEOUT_S, station_page

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "station"
KIOSK = (1280, 800)
UI_WAIT_S = 20.0  # the page's reaction to an action (a busy 2-core CI machine: a run's first point may take longer)
RUN_START_S = 90.0


@pytest.fixture
def browser(tmp_path, monkeypatch):
    for program in (CHROMIUM, CHROMEDRIVER):
        assert Path(program).exists(), f"{program} missing: install Debian's chromium and chromium-driver"
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must not fetch a browser or a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={profile}", f"--window-size={KIOSK[0]},{KIOSK[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    # The kiosk's screen is the page's viewport (a window size would include the browser's frame).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": KIOSK[0], "height": KIOSK[1], "deviceScaleFactor": 1, "mobile": False})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _panel(driver, slot: int):
    return driver.find_element(By.ID, f"slot-{slot}")


def _text(driver, slot: int, css: str) -> str:
    return _panel(driver, slot).find_element(By.CSS_SELECTOR, css).text


def _wait(driver, condition, timeout_s: float = UI_WAIT_S, what: str = ""):
    return WebDriverWait(driver, timeout_s, poll_frequency=0.2).until(condition, message=what)


def _shot(driver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def _scan_start_confirm(driver, slot: int) -> str:
    panel = _panel(driver, slot)
    serial = _text(driver, slot, ".scanned").removeprefix("bench unit: ")
    assert serial.startswith("SN")
    field = panel.find_element(By.CSS_SELECTOR, ".serial")
    field.send_keys(serial + Keys.ENTER)  # what a keyboard-wedge scanner types
    _wait(driver, lambda d: _text(d, slot, ".scanned") == f"scanned {serial}", what=f"slot {slot} scanned")
    start = panel.find_element(By.CSS_SELECTOR, ".start")
    _wait(driver, lambda d: start.is_enabled(), what="Start enabled")
    start.click()
    confirm = panel.find_element(By.CSS_SELECTOR, ".confirm")
    _wait(driver, ec.visibility_of(confirm), what=f"slot {slot} prompt")
    assert "connect the electrodes" in _text(driver, slot, ".prompt-text")
    assert panel.find_element(By.CSS_SELECTOR, ".prompt-image").get_attribute("naturalWidth") != "0"
    confirm.click()
    return serial


def test_operator_runs_a_pass_and_a_fail_in_the_browser(browser, tmp_path):
    with station_page(tmp_path) as server:
        driver = browser
        driver.get(server.url)
        _wait(driver, lambda d: d.find_element(By.ID, "connection").text == "live", what="event stream")
        driver.find_element(By.ID, "operator").send_keys("Ann Tester" + Keys.ENTER)
        _wait(driver, lambda d: "Ann Tester" in d.find_element(By.ID, "signed-in").text, what="signed in")
        # Trace events render when they come (today's run sends none): synthetic ones on an idle slot.
        samples = 50
        server.controller.state.trace(4, "synthetic cut-off trace (test event)", [i * 0.01 for i in range(samples)],
                                      [min(i, 30) * 0.9 for i in range(samples)])
        _wait(driver, lambda d: _panel(d, 4).find_element(By.CSS_SELECTOR, ".trace")
              .get_attribute("data-samples") == str(samples), what="trace drawn")
        _shot(driver, "idle")

        serial = _scan_start_confirm(driver, 1)
        _wait(driver, lambda d: _panel(d, 1).get_attribute("data-status") == "running", what="slot 1 running")
        _wait(driver, lambda d: " / " in _text(d, 1, ".points") and _text(d, 1, ".elapsed"), RUN_START_S, "progress")
        _shot(driver, "running")
        _wait(driver, lambda d: _text(d, 1, ".verdict"), RUN_TIMEOUT_S, "slot 1 verdict")
        assert _text(driver, 1, ".verdict") == "PASS", _text(driver, 1, ".result")
        _shot(driver, "pass")
        report = _panel(driver, 1).find_element(By.CSS_SELECTOR, ".report").get_attribute("href")
        driver.get(report)
        assert serial in driver.page_source
        driver.get(server.url)  # a new page shows the true state of every slot
        _wait(driver, lambda d: _text(d, 1, ".verdict") == "PASS", what="verdict after reload")

        _scan_start_confirm(driver, FAULTY_SLOT)
        _wait(driver, lambda d: _text(d, FAULTY_SLOT, ".verdict"), RUN_TIMEOUT_S, "slot 2 verdict")
        assert _text(driver, FAULTY_SLOT, ".verdict") == "FAIL", _text(driver, FAULTY_SLOT, ".result")
        assert _text(driver, FAULTY_SLOT, ".failing") == "failing requirement: calibration"
        _wait(driver, lambda d: "rework tray" in _text(d, FAULTY_SLOT, ".prompt-text"), what="after-FAIL prompt")
        _shot(driver, "fail")
        _panel(driver, FAULTY_SLOT).find_element(By.CSS_SELECTOR, ".confirm").click()
        _wait(driver, lambda d: _panel(d, FAULTY_SLOT).get_attribute("data-status") == "finished", what="answered")
        driver.find_element(By.ID, "history-button").click()
        _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history-table tbody tr")) == 2, what="history")
        verdicts = [row.find_elements(By.TAG_NAME, "td")[6].text
                    for row in driver.find_elements(By.CSS_SELECTOR, "#history-table tbody tr")]
        assert verdicts == ["FAIL", "PASS"]  # newest first
    assert os.path.getsize(SCREENSHOTS / "fail.png") > 0
