"""report.html in a real browser: headless Chromium opens it from disk, with no network.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and selenium
(the dev extra). Skipped without them on a developer machine; under CI (``CI=true``) a missing
browser fails the test instead. Set ``NMT_SCREENSHOT_DIR`` to keep the screenshot.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from autograder.classreport import fingerprint_definitions, write_class_report
from tests.test_classreport import TEMPLATE, class_records

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
WIDTH = 1280
MAX_HEIGHT = 16000


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[dev]')")
    if not missing:
        return
    reason = f"missing {', '.join(missing)} (apt-get install chromium chromium-driver)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the browser test: {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser(tmp_path):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_argument(f"--window-size={WIDTH},900")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.slow
def test_report_renders_in_chromium(browser, tmp_path):
    out = tmp_path / "batch"
    records = class_records()
    for record in records:
        if record.feedback_path:
            feedback = out / record.feedback_path
            feedback.parent.mkdir(parents=True, exist_ok=True)
            feedback.write_text(f"# Feedback for {record.student_id}\n")
    paths = write_class_report(
        records,
        out,
        title="Assignment 2: NMT with Transformers",
        question_titles={"2.2.1": "ScaledDotAttention", "2.3.1": "DecoderOnlyTransformer"},
        ignore_fingerprints={fingerprint_definitions(TEMPLATE)},
    )
    browser.get(paths.html.resolve().as_uri())

    assert browser.title == "Assignment 2: NMT with Transformers", "student markup ran"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) == 4
    assert all(complete and width > 0 and height > 0 for complete, width, height in images)
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert not [r for r in resources if not r.startswith("data:")], "the page fetched something"

    def text(selector: str) -> str:
        return browser.execute_script(
            "return document.querySelector(arguments[0]).innerText.trim()", selector
        )

    assert text('[data-stat="students"] .value') == "33"
    assert text('[data-stat="graded"] .value') == "30"
    assert text('[data-stat="not-graded"] .value') == "3"
    assert text('[data-stat="identical-groups"] .value') == "1"
    assert "50%" in text('#checks-table tr[data-key="2.2.2/context"] [data-stat="pass-rate"]')
    assert "(6/30)" in text('#checks-table tr[data-key="2.3.1/logits"] [data-stat="pass-rate"]')
    assert (
        browser.execute_script(
            "return document.querySelectorAll('#students-table tbody tr').length"
        )
        == 33
    )
    hostile = text('#students-table tr[data-key="s05"] td')
    assert hostile.startswith("<img src=x onerror="), "the hostile name shows as text"
    assert "<script>" in text("#failures-table"), "the hostile message shows as text"

    examples = browser.execute_script(
        "return Array.from(document.querySelectorAll('#failures-table tbody tr'))"
        ".map(row => row.querySelector('td:last-child a')?.innerText)"
    )
    assert len(examples) == 10 and examples[0] == "Student 0 (s00)", "one example per row"
    link = browser.execute_script(
        "return document.querySelector('#students-table tr[data-key=\"s07\"] a').href"
    )
    assert link == (out / "s07" / "feedback.md").resolve().as_uri()

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WIDTH, min(height + 120, MAX_HEIGHT))
    screenshot = tmp_path / "class-report.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("NMT_SCREENSHOT_DIR"):
        keep = Path(os.environ["NMT_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, keep / screenshot.name)
