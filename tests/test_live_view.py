"""`synthmatch daemon --view`: the live view's JSON over real HTTP, and its page in a real headless chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_process import DAEMON, Daemon
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from synthmatch.daemon.config import DaemonConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: What chromium needs on these machines: no sandbox as root, no GPU, and no reaching out to the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: Set to 1 to refresh the README's screenshot, docs/figures/live-view.png, from the browser test.
UPDATE_FIGURES = os.environ.get("SYNTHMATCH_UPDATE_FIGURES") == "1"


class ViewDaemon(Daemon):
    """A `synthmatch daemon --view` on free ports; ``url`` is the view's, read from the banner."""

    def __init__(self) -> None:
        super().__init__("--view", "--view-port", "0")
        self.url = next(line.split()[1] for line in self.banner if line.strip().startswith("view"))

    def state(self) -> dict[str, Any]:
        """The view's JSON state, fetched over HTTP."""
        with urllib.request.urlopen(self.url + "state.json", timeout=5) as response:
            assert response.headers["Content-Type"] == "application/json"
            return json.loads(response.read())


@pytest.fixture(scope="module")
def daemon() -> Iterator[ViewDaemon]:
    daemon = ViewDaemon()
    yield daemon
    daemon.stop()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``condition`` until it returns something true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def command(client: SimpleUDPClient, address: str, *args: Any) -> OscMessage:
    """Send one OSC command and return its first reply."""
    client.send_message(address, list(args))
    return OscMessage(client.receive(10.0))


def test_the_state_shows_idle_then_a_match_as_it_runs(daemon: ViewDaemon, target_wav: Path) -> None:  # noqa: F811
    idle = daemon.state()
    assert (idle["state"], idle["step"], idle["history"], idle["target"]) == ("idle", 0, [], None)
    assert idle["distance"] is None and idle["target_mel"] is None and idle["sound_mel"] is None
    assert idle["synth"] == {"name": "builtin", "kind": "builtin"} and idle["model"].endswith("builtin")
    assert len(idle["params"]) == 20 and idle["params"][5]["name"] == "cutoff_hz"
    assert idle["params"][5]["unit"] == "Hz" and 20.0 <= idle["params"][5]["value"] <= 20000.0

    with SimpleUDPClient("127.0.0.1", daemon.port) as client:
        assert command(client, "/synthmatch/target/load", str(target_wav), 48).address == "/synthmatch/target/loaded"
        loaded = daemon.state()
        assert loaded["target"] == str(target_wav) and loaded["note"] == 48
        assert len(loaded["target_mel"]) == 64 and len(loaded["target_mel"][0]) == 63  # [mels][frames] in dB
        low, high = loaded["mel_range_db"]
        assert low <= min(map(min, loaded["target_mel"])) < max(map(max, loaded["target_mel"])) <= high

        assert command(client, "/synthmatch/match/start", 4096).address == "/synthmatch/progress"
        running = wait_for(lambda: (s := daemon.state())["step"] >= 3 and s, "three steps in the view")
        assert running["state"] == "matching" and running["max_steps"] == 4096
        assert len(running["history"]) >= 3 and running["distance"] is not None
        assert len(running["sound_mel"]) == 64
        client.send_message("/synthmatch/match/stop", [])
        replies = [OscMessage(client.receive(10.0))]
        while replies[-1].address != "/synthmatch/match/done":
            replies.append(OscMessage(client.receive(10.0)))
        assert "/synthmatch/match/stopping" in [reply.address for reply in replies]
        steps, best, reach = replies[-1].params

    done = daemon.state()
    assert done["state"] == "idle" and done["step"] == steps == len(done["history"]) == len(done["best_history"])
    assert done["best_distance"] == pytest.approx(best, rel=1e-6)
    assert done["reach"].startswith(reach + ":")  # the view says in a sentence what the done reply says in a word
    assert done["best_history"] == sorted(done["best_history"], reverse=True)  # best so far never rises
    assert all(b <= d for b, d in zip(done["best_history"], done["history"], strict=True))


def test_the_page_is_served_whole_from_the_daemon(daemon: ViewDaemon) -> None:
    with urllib.request.urlopen(daemon.url, timeout=5) as response:
        page = response.read().decode()
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<canvas" in page and "state.json" in page
    assert "http://" not in page and "https://" not in page  # no CDN: nothing is fetched from another host
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(daemon.url + "nothing-here", timeout=5)
    assert missing.value.code == 404 and "/state.json" in missing.value.read().decode()


def test_a_busy_view_port_ends_the_daemon_with_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([*DAEMON, "--osc-port", "0", "--view", "--view-port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot serve the live view on 127.0.0.1:{port}" in result.stderr and "--view-port" in result.stderr


def test_the_config_file_turns_the_view_on(tmp_path: Path) -> None:
    path = tmp_path / "daemon.toml"
    path.write_text("view = true\nview_port = 9123\n")
    config = load_config(path, {})
    assert (config.view, config.view_port) == (True, 9123)
    assert load_config(path, {"view_port": 0}).view_port == 0
    assert load_config(None, {}).view is False and load_config(None, {}).view_port == 9001
    path.write_text('view = "yes"\n')
    with pytest.raises(DaemonConfigError, match="view = 'yes' must be true or false"):
        load_config(path, {})
    path.write_text("view_port = 70000\n")
    with pytest.raises(DaemonConfigError, match="view_port = 70000 must be an integer in 0..65535"):
        load_config(path, {})


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its header; fails if ``data`` is no PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG file"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def fresh_daemon() -> Iterator[ViewDaemon]:
    """A daemon of its own, so that its match starts from the default patch whatever ran before."""
    daemon = ViewDaemon()
    yield daemon
    daemon.stop()


@pytest.mark.slow
def test_the_page_follows_a_match_in_a_real_browser(fresh_daemon: ViewDaemon, target_wav: Path,  # noqa: F811
                                                     tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM}: apt-get install chromium chromium-driver")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    daemon = fresh_daemon
    with SimpleUDPClient("127.0.0.1", daemon.port) as client, sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 760},
        )
        try:
            page = context.new_page()
            page.goto(daemon.url)
            expect = sync_api.expect
            expect(page.locator("#state")).to_have_text("idle")
            expect(page.locator("#synth")).to_have_text("builtin (builtin)")
            expect(page.locator("#params > span")).to_have_count(40)  # a name and a value per parameter
            page.evaluate("window.loadedOnce = true")  # gone if the page reloads

            assert command(client, "/synthmatch/target/load", str(target_wav), 48).address.endswith("loaded")
            expect(page.locator("#target")).to_contain_text("target.wav at MIDI note 48")
            assert command(client, "/synthmatch/match/start", 4096).address == "/synthmatch/progress"
            expect(page.locator("#state")).to_have_text("matching")
            page.wait_for_function("Number(document.getElementById('step').textContent) >= 24", timeout=30_000)
            assert page.locator("#distance").inner_text() != "–"
            assert page.locator("#sound-mel").is_visible()
            shot = tmp_path / "live-view.png"
            page.screenshot(path=str(shot))
            command(client, "/synthmatch/match/stop")
            expect(page.locator("#state")).to_have_text("idle")
            assert page.evaluate("window.loadedOnce") is True
        finally:
            context.close()
    data = shot.read_bytes()
    assert png_size(data) == (1200, 760) and len(data) > 20_000  # a drawn page, not a blank one
    if UPDATE_FIGURES:
        assert len(data) < 200_000, f"the screenshot is {len(data)} bytes; keep the README's figure under 200 kB"
        shutil.copyfile(shot, ROOT / "docs" / "figures" / "live-view.png")
