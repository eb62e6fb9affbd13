"""`binauralgrad app` in a real headless Chromium (Selenium): upload, a circle, synthesis with its
progress bar in two tabs at once, the binaural file checked by ear-side level, a stereo upload,
nothing fetched from outside the machine, and a clean stop.

Needs the `app` extra, selenium, and Debian's `chromium` and `chromium-driver` (.ci/run installs
them); skipped with the reason otherwise. With BINAURALGRAD_APP_SCREENSHOT=docs/app.png it also
saves the README's screenshot of the page after the synthesis.
"""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import soundfile
from conftest import speech_like

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1400,1700", "--no-first-run", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-extensions", "--mute-audio")
WAIT_S = 240  # the longest wait for one step: the synthesis of two clips on a busy CPU


def _missing() -> str | None:
    """Why the test cannot run here, or None."""
    for module, install in (("gradio", 'the app extra: pip install -e ".[app]"'),
                            ("selenium", 'selenium: pip install -e ".[dev]"')):
        try:
            __import__(module)
        except ImportError:
            return f"no {module}; install {install}"
    if not any(map(shutil.which, BROWSERS)) or not shutil.which("chromedriver"):
        return ("no Chromium and ChromeDriver; install Debian's chromium and chromium-driver "
                "(bash .ci/run does)")
    return None


if _missing():
    pytest.skip(_missing(), allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


class Server:
    """`python -m binauralgrad app` in its own process, its output read as it comes."""

    def __init__(self, temp: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "TMPDIR": str(temp), "HF_HUB_OFFLINE": "1",
               "BINAURALGRAD_TUNING": "off"}
        self.temp, self.lines = temp, queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "binauralgrad", "app", "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        # Drained all along: a full pipe (progress bars) would stall the server.
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for_url()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def _wait_for_url(self) -> str:
        deadline, seen = time.monotonic() + 120, []
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                seen.append(self.lines.get(timeout=1))
            except queue.Empty:
                continue
            if seen[-1].startswith("binauralgrad app: serving "):
                return seen[-1].split()[3]
        raise AssertionError(f"the app did not print its URL: {''.join(seen)}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = Server(tmp_path_factory.mktemp("app_tmp"))
    yield served
    if served.process.poll() is None:
        served.process.kill()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = next(filter(None, map(shutil.which, BROWSERS)))
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.requested = set()  # every URL the page asked for, gathered by `requests_so_far`
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    voice, short = speech_like(96000), speech_like(24000, seed=1)  # 2 s and 0.5 s at 48 kHz
    paths = {"voice": folder / "voice.wav", "short": folder / "short.wav",
             "stereo": folder / "stereo.wav"}
    soundfile.write(str(paths["voice"]), voice, 48000, subtype="PCM_16")
    soundfile.write(str(paths["short"]), short, 48000, subtype="PCM_16")
    soundfile.write(str(paths["stereo"]), np.stack([voice, voice[::-1]], axis=1), 44100)
    return paths


def requests_so_far(driver) -> set[str]:
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            driver.requested.add(message["params"]["request"]["url"])
    return driver.requested


def find(driver, selector: str):
    return driver.find_element(By.CSS_SELECTOR, selector)


def open_page(driver, url: str) -> WebDriverWait:
    driver.get(url)
    wait = WebDriverWait(driver, WAIT_S)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#recording input[type=file]"))
    return wait


def upload(driver, wait, clip: Path) -> None:
    find(driver, "#recording input[type=file]").send_keys(str(clip))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#recording a[download]"))


def type_number(driver, selector: str, value: str) -> None:
    field = find(driver, selector)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(value, Keys.TAB)


def start_circle(driver, url: str, clip: Path, *, seed: int) -> WebDriverWait:
    """Opens the page, uploads `clip`, sets a 1 m circle of 2 s a lap and presses the button."""
    wait = open_page(driver, url)
    upload(driver, wait, clip)
    find(driver, "#kind input[value=circle]").click()
    type_number(driver, "#radius input[type=number]", "1")
    type_number(driver, "#period input", "2")
    find(driver, "#model input[value=live]").click()  # the embedded model that streams
    type_number(driver, "#seed input", str(seed))
    find(driver, "#synthesise").click()
    return wait


def result(driver, wait) -> tuple[np.ndarray, int, str]:
    """The binaural player's file, downloaded as the page offers it, and the status text."""
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#binaural a[download]"))
    url = find(driver, "#binaural a[download]").get_attribute("href")
    assert urlparse(url).hostname == "127.0.0.1"
    with urllib.request.urlopen(url, timeout=30) as response:
        audio, rate = soundfile.read(io.BytesIO(response.read()), dtype="float32")
    return audio.T, rate, find(driver, "#status").text


def level_db(audio: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    """(2,) RMS level in dB of each ear between two times."""
    part = audio[:, int(start_s * 48000):int(end_s * 48000)]
    return 10 * np.log10(np.mean(np.square(part, dtype=np.float64), axis=1))


def pipeline_progress(driver) -> bool:
    """Whether the binaural player shows the pipeline's own progress bar (samples done)."""
    text = find(driver, "#binaural").text
    return "BinauralGrad" in text and "sample" in text


def test_a_circle_synthesised_in_two_tabs_at_once(server, browser, clips):
    first = start_circle(browser, server.url, clips["voice"], seed=0)
    # 2 s take seconds on a CPU: the bar follows the pipeline's samples, not just a spinner.
    WebDriverWait(browser, WAIT_S, poll_frequency=0.1).until(pipeline_progress)
    tab_one = browser.current_window_handle
    browser.switch_to.new_window("tab")  # a second person, while the first one waits
    second = start_circle(browser, server.url, clips["short"], seed=1)
    short, _, status = result(browser, second)
    assert short.shape == (2, 24000) and "Done: 0.50 s" in status
    browser.switch_to.window(tab_one)
    binaural, rate, status = result(browser, first)
    assert rate == 48000 and binaural.shape == (2, 96000), (rate, binaural.shape)
    assert "Done: 2.00 s, walking a circle of 1 m, 2 s a lap, clockwise" in status
    assert level_db(binaural, 0, 2).max() > -50  # not silent
    # Clockwise from ahead: on the right for the first second, on the left for the next.
    right_side, left_side = level_db(binaural, 0.3, 0.7), level_db(binaural, 1.3, 1.7)
    assert right_side[1] > right_side[0] + 1.0, right_side
    assert left_side[0] > left_side[1] + 1.0, left_side
    downloads = find(browser, "#downloads").text.replace("\n", "")
    assert "voice_binaural.wav" in downloads and "voice_binaural.positions.txt" in downloads
    assert find(browser, "#baseline a[download]") and find(browser, "#mono a[download]")
    assert find(browser, "#cues img").get_attribute("src")
    assert "--circle 1 --period 2" in find(browser, "#command textarea").get_attribute("value")
    screenshot = os.environ.get("BINAURALGRAD_APP_SCREENSHOT")
    if screenshot:
        save_screenshot(browser, Path(screenshot))


def save_screenshot(driver, path: Path) -> None:
    """The page as it is, a little smaller, as a PNG for the README."""
    from PIL import Image

    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], height + 200)  # the whole page, figure included
    time.sleep(2)  # the players' waveforms settle
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    driver.set_window_size(size["width"], size["height"])
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
    image.quantize(colors=256).save(path, optimize=True)


def test_a_stereo_upload_asks_for_a_channel(server, browser, clips):
    wait = open_page(browser, server.url)
    upload(browser, wait, clips["stereo"])
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#channel input"))
    assert "This recording has several channels, and the model takes one voice: pick a " \
           "channel or downmix" in find(browser, "#channel").text
    assert [box.get_attribute("value") for box in
            browser.find_elements(By.CSS_SELECTOR, "#channel input")] == ["1", "2", "downmix"]
    find(browser, "#synthesise").click()  # without a choice: the command line's message
    wait.until(lambda d: "Could not synthesise" in find(d, "#status").text)
    status = find(browser, "#status").text
    assert "stereo.wav has 2 channels, but the model takes one voice" in status
    assert "Traceback" not in status and str(server.temp) not in status
    # A redraw after the synthesis says what is wrong with the path in its own place.
    find(browser, "#kind input[value=file]").click()  # no positions file yet
    wait.until(lambda d: "This path does not work" in find(d, "#checks").text)
    assert find(browser, "#status").text == status


def test_nothing_leaves_the_machine(server, browser):
    with urllib.request.urlopen(server.url + "config", timeout=30) as response:
        assert json.load(response)["analytics_enabled"] is False
    requested = requests_so_far(browser)
    assert any(url.startswith(server.url) for url in requested)
    outside = sorted(url for url in requested if not url.startswith(("data:", "blob:"))
                     and urlparse(url).hostname not in ("127.0.0.1", "localhost"))
    assert not outside, outside


def test_stopping_removes_the_temporary_folder(server):
    assert any(server.temp.glob("binauralgrad-app-*"))
    assert server.stop() == 0
    assert not any(server.temp.iterdir()), list(server.temp.iterdir())
