"""`synthmatch daemon --view`: the live view's JSON over real HTTP, and its page in a real headless chromium."""

from __future__ import annotations

import http.client
import json
import os
import re
import resource
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

from synthmatch.agent import OnnxAgent, default_model_dir
from synthmatch.daemon.config import DaemonConfigError, load_config
from synthmatch.daemon.live_view import LiveView
from synthmatch.daemon.local_http_server import MAX_CONNECTIONS
from synthmatch.daemon.match_session import MatchSession
from synthmatch.definitions import find_definition
from synthmatch.features import FeatureSettings
from synthmatch.synths import open_synth

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: What chromium needs on these machines: no sandbox as root, no GPU, and no reaching out to the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: Set to 1 to refresh the README's screenshot, docs/figures/live-view.png, from the browser test.
UPDATE_FIGURES = os.environ.get("SYNTHMATCH_UPDATE_FIGURES") == "1"


class ViewDaemon(Daemon):
    """A `synthmatch daemon --view` on free ports; ``url`` is the view's, read from the banner."""

    def __init__(self, *args: str) -> None:
        super().__init__("--view", "--view-port", "0", *args)
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
    assert (idle["state"], idle["step"], idle["history"], idle["target"], idle["phase"]) == ("idle", 0, [], None, None)
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
        builtin = find_definition("builtin")
        agent = OnnxAgent.load(default_model_dir(builtin), builtin)
        bank = 0 if agent.starts is None else len(agent.starts) + (agent.oneshot is not None)  # the guess first
        assert bank > 0 and (running["phase"] == "bank") == (running["step"] <= bank)  # step and phase: one snapshot
        assert running["phase"] in ("bank", "agent", "relay", "polish")  # the polish: after a stall (step 45 on)
        client.send_message("/synthmatch/match/stop", [])
        replies = [OscMessage(client.receive(10.0))]
        while replies[-1].address != "/synthmatch/match/done":
            replies.append(OscMessage(client.receive(10.0)))
        assert "/synthmatch/match/stopping" in [reply.address for reply in replies]
        steps, best, reach, _, _, start = replies[-1].params

    done = daemon.state()
    assert done["state"] == "idle" and done["step"] == steps == len(done["history"]) == len(done["best_history"])
    assert done["best_distance"] == pytest.approx(best, rel=1e-6)
    assert done["distance_start"] == pytest.approx(start, rel=1e-6) and start >= best  # the view and done agree
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


def thread_count(pid: int) -> int:
    """How many threads the process ``pid`` runs now, as Linux counts them."""
    found = re.search(r"^Threads:\s+(\d+)$", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    assert found is not None
    return int(found[1])


def is_closed(connection: socket.socket) -> bool:
    """Whether the other end has closed ``connection`` (it reads as ended), without waiting."""
    connection.setblocking(False)
    try:
        return connection.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def get_state(port: int, host_header: str) -> tuple[int, bytes]:
    """GET /state.json from 127.0.0.1:``port`` with the given Host header; the status and the body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/state.json", headers={"Host": host_header})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_idle_connections_hold_few_threads_and_the_view_still_answers(daemon: ViewDaemon) -> None:
    port, pid = int(daemon.url.rsplit(":", 1)[1].strip("/")), daemon.process.pid
    before = thread_count(pid)
    idle = []
    try:
        for _ in range(300):  # each would have held a thread and a descriptor in the daemon until it exited
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        assert daemon.state()["state"] == "idle"  # answered while all 300 are open
        assert thread_count(pid) <= before + MAX_CONNECTIONS
        assert sum(is_closed(connection) for connection in idle) >= len(idle) - MAX_CONNECTIONS
    finally:
        for connection in idle:
            connection.close()
    assert daemon.state()["state"] == "idle"


def test_only_this_machines_host_names_are_answered(daemon: ViewDaemon) -> None:
    port = int(daemon.url.rsplit(":", 1)[1].strip("/"))
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}", f"[::1]:{port}"):
        status, body = get_state(port, host)
        assert status == 200 and json.loads(body)["state"] == "idle", host
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", "127.0.0.1:1", ""):
        status, body = get_state(port, host)  # a page that rebinds evil.example to 127.0.0.1 sends the first two
        assert status == 421 and b"is not this machine" in body and b"state" not in body, host


def test_idle_connections_leave_descriptors_for_the_osc_side(target_wav: Path, tmp_path: Path) -> None:  # noqa: F811
    daemon = ViewDaemon("--patch-dir", str(tmp_path))
    try:
        pid, port = daemon.process.pid, int(daemon.url.rsplit(":", 1)[1].strip("/"))
        assert len(os.listdir(f"/proc/{pid}/fd")) < 32
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (48, 48))  # the limit under which 46 connections broke it
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(100)]
        try:
            assert daemon.state()["state"] == "idle"
            with SimpleUDPClient("127.0.0.1", daemon.port) as client:
                assert command(client, "/synthmatch/target/load", str(target_wav), 48).address.endswith("loaded")
                client.send_message("/synthmatch/match/start", [2])
                while OscMessage(client.receive(30.0)).address != "/synthmatch/match/done":
                    pass
                saved = command(client, "/synthmatch/patch/save", "held")
            assert saved.address == "/synthmatch/patch/saved" and Path(saved.params[0]).is_file()
        finally:
            for connection in idle:
                connection.close()
    finally:
        daemon.stop()


@pytest.fixture
def quick_view() -> Iterator[LiveView]:
    """A live view in this process whose requests must arrive within half a second."""
    synth = open_synth("builtin")
    session = MatchSession(synth, OnnxAgent.load(default_model_dir(synth.definition), synth.definition))
    view = LiveView(session, "builtin", FeatureSettings(sample_rate=synth.sample_rate), (-80.0, 20.0), port=0,
                    request_timeout_s=0.5)
    view.start()
    yield view
    view.close()
    session.close()


def test_a_request_that_trickles_in_is_cut_off_at_the_deadline(quick_view: LiveView) -> None:
    with socket.create_connection(("127.0.0.1", quick_view.port), timeout=10) as slow:
        slow.sendall(b"GET /state.json HTTP/1.1\r\n")
        began, cut_off = time.monotonic(), False
        while not cut_off and time.monotonic() - began < 10.0:
            try:
                slow.sendall(b"X")  # a header byte now and then: each read on its own would not time out
                time.sleep(0.05)
                cut_off = is_closed(slow)
                slow.setblocking(True)
            except (BrokenPipeError, ConnectionResetError):
                cut_off = True
    assert cut_off, "a slowloris connection was still open after 10 s"
    status, body = get_state(quick_view.port, f"127.0.0.1:{quick_view.port}")
    assert status == 200 and json.loads(body)["state"] == "idle"


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
            # past the 12 starts; the stall rule may hand over to the polish from step 45 on, and the match runs on
            expect(page.locator("#phase")).to_have_text(re.compile(r"^\((agent|relay|polish)\)$"))
            assert page.locator("#sound-mel").is_visible()
            shot = tmp_path / "live-view.png"
            page.screenshot(path=str(shot))
            command(client, "/synthmatch/match/stop")
            expect(page.locator("#state")).to_have_text("idle")
            assert page.evaluate("window.loadedOnce") is True
            assert float(page.locator("#start-distance").inner_text()) >= float(
                page.locator("#best-distance").inner_text())
            expect(page.locator("#reach-word")).to_have_text(re.compile("^(exact|close|near|far)$"))
            for button in ("#play-target", "#play-sound"):  # fetched from the daemon and played, no error shown
                expect(page.locator(button)).to_be_enabled()
                with page.expect_response(lambda r: r.url.endswith(".wav") and r.status == 200):
                    page.click(button)
                expect(page.locator("#sound-status")).to_have_text("")
        finally:
            context.close()
    data = shot.read_bytes()
    assert png_size(data) == (1200, 760) and len(data) > 20_000  # a drawn page, not a blank one
    if UPDATE_FIGURES:
        assert len(data) < 200_000, f"the screenshot is {len(data)} bytes; keep the README's figure under 200 kB"
        shutil.copyfile(shot, ROOT / "docs" / "figures" / "live-view.png")
