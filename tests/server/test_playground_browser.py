"""The playground in real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

The page is loaded from a real server on loopback with auth on; the key is typed into its field, a count is
asked for two models and the numbers shown must equal what the StepFun route answers for the same body. A
share link made by the page must reproduce the count when opened in a fresh tab. A screenshot is written to
``.pytest_cache/playground.png`` for a human to look at.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from support.serverkit import running_server
from support.shared import REPO
from tokcount.settings import Settings

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
KEY = "browser-key"
SHOT = REPO / ".pytest_cache" / "playground.png"

if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):  # scripts/test installs them in CI; a dev box may not
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI must run the browser test: chromium and chromedriver are missing (see scripts/test)")
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

BODY = {"messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "How many tokens is héllo wörld 日本?"}]}


@pytest.fixture(scope="module")
def base() -> str:
    with running_server(Settings(api_keys=(KEY,))) as url:
        yield url


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tokcount-chromium-")
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1280,1400"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console: a missing favicon shows as a 404
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _api_count(base: str, model: str) -> int:
    r = httpx.post(f"{base}/v1/token/count", json={**BODY, "model": model},
                   headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    return r.json()["data"]["total_tokens"]


def _shown(driver, model: str) -> str:  # type: ignore[no-untyped-def]
    return driver.find_element(By.CSS_SELECTOR, f'#results tr[data-model="{model}"] td.count').text


def test_page_counts_equal_the_api(base: str, browser) -> None:  # type: ignore[no-untyped-def]
    wait = WebDriverWait(browser, 60)
    browser.get(f"{base}/playground")
    key = browser.find_element(By.ID, "key")
    key.send_keys(KEY)
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", key)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#model-list input[value="gpt-4o"]'))
    area = browser.find_element(By.ID, "request")
    browser.execute_script("arguments[0].value = arguments[1]", area, json.dumps(BODY, indent=1, ensure_ascii=False))
    box = browser.find_element(By.CSS_SELECTOR, '#model-list input[value="gpt-4o"]')
    if not box.is_selected():
        box.click()
    Select(browser.find_element(By.ID, "dialect")).select_by_value("stepfun")
    browser.find_element(By.ID, "count").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results tr[data-model]")) == 2)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#results tr[data-model] td.count")) == 2, \
        browser.find_element(By.ID, "results").text
    for model in ("qwen3.5", "gpt-4o"):
        assert _shown(browser, model) == str(_api_count(base, model))
        row = browser.find_element(By.CSS_SELECTOR, f'#results tr[data-model="{model}"]')
        assert "exact" in row.text and "quicktok" in row.text
    spans = browser.find_elements(By.CSS_SELECTOR, ".model-detail .tokens span")
    assert len(spans) >= _api_count(base, "qwen3.5")  # one coloured span per token
    assert "wörld" in browser.find_element(By.CSS_SELECTOR, ".model-detail .tokens").text
    assert "messages[0]" in browser.find_element(By.CSS_SELECTOR, ".model-detail .breakdown").text
    SHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SHOT))

    browser.find_element(By.ID, "share").click()
    link = browser.find_element(By.ID, "share-url").get_attribute("value")
    assert link.startswith(f"{base}/playground#") and KEY not in link
    browser.switch_to.new_window("tab")
    browser.get(link)  # a new tab has its own sessionStorage: the key is typed again, never in the link
    wait.until(lambda d: d.find_element(By.ID, "request").get_attribute("value"))
    assert json.loads(browser.find_element(By.ID, "request").get_attribute("value")) == BODY
    assert browser.find_element(By.ID, "dialect").get_attribute("value") == "stepfun"
    key = browser.find_element(By.ID, "key")
    if not key.get_attribute("value"):
        key.send_keys(KEY)
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", key)
    browser.find_element(By.ID, "count").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results tr[data-model] td.count")) == 2)
    assert _shown(browser, "gpt-4o") == str(_api_count(base, "gpt-4o"))


def test_page_without_key_says_so(base: str, browser) -> None:  # type: ignore[no-untyped-def]
    browser.switch_to.new_window("tab")  # a fresh tab: its sessionStorage holds no key
    browser.get(f"{base}/playground")
    WebDriverWait(browser, 30).until(lambda d: "could not list models" in d.find_element(By.ID, "model-list").text)
    browser.find_element(By.ID, "extra-models").send_keys("qwen3.5")
    browser.find_element(By.ID, "count").click()
    WebDriverWait(browser, 30).until(lambda d: "401" in d.find_element(By.ID, "status").text)


def _natural(a: str, b: str) -> int:
    """The page's order of model names (app.js ``natural``): numbers compared as numbers, the rest by code point."""
    x, y = re.findall(r"\d+|\D+", a), re.findall(r"\d+|\D+", b)
    for p, q in zip(x, y, strict=False):
        if p == q:
            continue
        if p[0].isdigit() and q[0].isdigit():
            return int(p) - int(q)
        return -1 if p < q else 1
    return len(x) - len(y)


def _status(driver) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    el = driver.find_element(By.ID, "status")
    return el.text, el.get_attribute("class") or ""


def test_what_a_new_user_trips_over(base: str, browser) -> None:  # type: ignore[no-untyped-def]
    """Issue 26: invalid JSON was counted as plain text, "counted for 3 models" when 2 failed, models whose files
    are not here could be ticked, the list was in catalog order, notes ran together, the page overflowed at 400 px
    and the favicon was a 404 in the console."""
    wait = WebDriverWait(browser, 60)
    browser.switch_to.new_window("tab")
    browser.get(f"{base}/playground")
    icon = browser.find_element(By.CSS_SELECTOR, "link[rel~=icon]").get_attribute("href")
    assert icon.startswith("data:image/svg+xml"), icon  # no request to any server for it
    key = browser.find_element(By.ID, "key")
    key.send_keys(KEY)
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", key)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#model-list input[value="gpt-4o"]'))

    # every model listed, in name order; those without files here cannot be ticked
    listed = httpx.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=60).json()["data"]
    boxes = browser.find_elements(By.CSS_SELECTOR, "#model-list input")
    shown = [b.get_attribute("value") for b in boxes]
    assert shown == sorted((m["id"] for m in listed), key=functools.cmp_to_key(_natural))
    available = {m["id"]: m["available"] for m in listed}
    assert not all(available.values()), "the test needs a model without its files here (step-3.7-flash)"
    for box in boxes:
        assert box.is_enabled() is available[box.get_attribute("value")]
        assert not (box.is_selected() and not box.is_enabled())

    # a body that looks like JSON but is not: said, not counted as plain text
    area = browser.find_element(By.ID, "request")
    browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
                           area, '{"messages": [{"role": "user", "content": "hi"}')
    assert browser.find_element(By.ID, "detected").text == "(not valid JSON)"
    browser.find_element(By.ID, "count").click()
    text, cls = _status(browser)
    assert "not valid JSON" in text and "err" in cls, text
    assert not browser.find_elements(By.CSS_SELECTOR, "#results tr[data-model]")

    # three models asked, two of them fail: the status says so
    browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
                           area, json.dumps(BODY))
    for box in browser.find_elements(By.CSS_SELECTOR, "#model-list input:checked"):
        box.click()
    browser.find_element(By.CSS_SELECTOR, '#model-list input[value="claude-sonnet-4-5"]').click()
    browser.find_element(By.ID, "extra-models").send_keys("step-3.7-flash, no-such-model")
    browser.find_element(By.ID, "count").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results tr[data-model]")) == 3)
    text, cls = _status(browser)
    assert text == "counted for 1 of 3 models; 2 failed (see the table)" and "err" in cls, text

    # each note its own item
    notes = httpx.post(f"{base}/v1/playground/count", headers={"Authorization": f"Bearer {KEY}"}, timeout=60,
                       json={"dialect": "openai-chat", "models": ["claude-sonnet-4-5"], "request": BODY}
                       ).json()["results"][0]["count"]["notes"]
    items = browser.find_elements(By.CSS_SELECTOR, '#results tr[data-model="claude-sonnet-4-5"] td.notes li')
    assert len(notes) >= 2 and [li.text for li in items] == notes

    # 400 px wide: nothing sticks out of the window (the results table scrolls inside its own box)
    browser.set_window_size(400, 1000)
    try:
        wait.until(lambda d: d.execute_script("return window.innerWidth") <= 400)
        width, inner = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner, (width, inner)
    finally:
        browser.set_window_size(1280, 1400)
    assert not [e for e in browser.get_log("browser") if "favicon" in e["message"]]
