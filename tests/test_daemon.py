"""`synthmatch daemon` and `synthmatch send` as a user runs them: real processes, real UDP on 127.0.0.1, signals."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from daemon_process import DAEMON, SEND, Daemon
from pedalboard.io import AudioFile
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg
from pythonosc.udp_client import SimpleUDPClient

from bench.live_daemon import read_banner
from synthmatch import __version__
from synthmatch.daemon.config import DaemonConfig, DaemonConfigError, load_config
from synthmatch.daemon.osc_client import parse_argument
from synthmatch.params import quantise_all
from synthmatch.synths.vst3 import Vst3Synth


@pytest.fixture(scope="module")
def patch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module daemon's patch folder (not there yet: the first save creates it)."""
    return tmp_path_factory.mktemp("home") / "patches"


@pytest.fixture(scope="module")
def daemon(patch_dir: Path) -> Iterator[Daemon]:
    daemon = Daemon("--patch-dir", str(patch_dir))
    yield daemon
    daemon.stop()


def receive_until(client: socket.socket, address: str) -> list[OscMessage]:
    """The replies on ``client`` up to and with the first to ``address`` (5 s at most between two)."""
    client.settimeout(5.0)
    replies = [OscMessage(client.recv(65536))]
    while replies[-1].address != address:
        replies.append(OscMessage(client.recv(65536)))
    return replies


def receive_load_answers(client: socket.socket, loads: int) -> list[OscMessage]:
    """The replies on ``client`` until a pong and an answer (loaded, or an error) to each of ``loads`` loads."""
    client.settimeout(5.0)
    replies: list[OscMessage] = []
    def answered() -> int:
        return sum(m.address == "/synthmatch/target/loaded" or m.params[:1] == ["/synthmatch/target/load"]
                   for m in replies)
    while answered() < loads or "/synthmatch/pong" not in [m.address for m in replies]:
        replies.append(OscMessage(client.recv(65536)))
    return replies


def send(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SEND, "--port", str(port), *args], capture_output=True, text=True, timeout=60)


def test_the_daemon_says_where_it_listens_and_what_it_drives(daemon: Daemon, patch_dir: Path) -> None:
    banner = "".join(daemon.banner)
    assert f"synthmatch daemon {__version__}" in banner and "udp://127.0.0.1:" in banner
    assert f"saved in    {patch_dir} (/synthmatch/patch/save <name>)" in banner
    assert "builtin" in banner and "rendered in-process" in banner
    message = daemon.ping()
    assert message.address == "/synthmatch/pong" and message.params == [__version__]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_shuts_it_down_cleanly(signum: int, target_wav: Path) -> None:
    daemon = Daemon("--log-level", "info")
    assert daemon.ping().address == "/synthmatch/pong"
    with SimpleUDPClient("127.0.0.1", daemon.port) as client:  # a long match is running when the signal comes
        client.send_message("/synthmatch/target/load", [str(target_wav)])
        assert OscMessage(client.receive(5.0)).address == "/synthmatch/target/loaded"
        client.send_message("/synthmatch/match/start", [4096])
        assert OscMessage(client.receive(5.0)).address == "/synthmatch/progress"
        status, seconds, stderr = daemon.stop(signum)
    assert status == 0 and seconds < 3.0, stderr
    assert f"{signal.Signals(signum).name} received" in stderr and "stopped" in stderr
    assert "Traceback" not in stderr


def test_send_prints_the_replies(daemon: Daemon, target_wav: Path, patch_dir: Path) -> None:
    result = send(daemon.port, "/synthmatch/ping")
    assert (result.returncode, result.stdout) == (0, f"/synthmatch/pong {__version__}\n")
    result = send(daemon.port, "/synthmatch/target/load", str(target_wav), "48")
    assert result.returncode == 0 and result.stdout == f"/synthmatch/target/loaded {target_wav} 1.0\n"
    result = send(daemon.port, "/synthmatch/match/start", "8")
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 9
    assert [line.split()[:2] for line in lines[:8]] == [["/synthmatch/progress", str(k)] for k in range(1, 9)]
    assert lines[-1].startswith("/synthmatch/match/done 8 ")
    result = send(daemon.port, "/synthmatch/patch/save", "lead")
    assert result.returncode == 0 and result.stdout.startswith(f"/synthmatch/patch/saved {patch_dir / 'lead.json'} ")
    assert (patch_dir / "lead.json").is_file()


def test_loads_in_one_bundle_supersede_each_other_and_ping_is_answered_meanwhile(
    daemon: Daemon, target_wav: Path, tmp_path: Path
) -> None:
    hostile = tmp_path / "$(touch pwned).wav"  # a header claiming 2**31 - 1 Hz, refused before decoding
    hostile.write_bytes(b"RIFF\x24\x00\x01\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\xff\xff\xff\x7f"
                        b"\xfe\xff\xff\xff\x02\x00\x10\x00data\x00\x00\x01\x00" + bytes(65536))
    bundle = OscBundleBuilder(IMMEDIATELY)
    for path, note in ((hostile, 48), (target_wav, 50), (target_wav, 52)):
        bundle.add_content(build_msg("/synthmatch/target/load", [str(path), note]))
    bundle.add_content(build_msg("/synthmatch/ping"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto(bundle.build().dgram, ("127.0.0.1", daemon.port))
        replies = receive_load_answers(client, 3)
        answers = [m for m in replies if m.address != "/synthmatch/pong"]
        assert "/synthmatch/pong" in [m.address for m in replies]
        # Which earlier loads are superseded depends on how far the worker got when the next one arrived: each is
        # either superseded, refused by its header (the hostile one) or loaded; the last load is the one kept.
        for answer in answers[:-1]:
            assert answer.address == "/synthmatch/target/loaded" or (
                answer.params[0] == "/synthmatch/target/load"
                and any(why in answer.params[1] for why in ("superseded by a later load", "outside 1,000..384,000 Hz"))
            ), answer.params
        assert answers[-1].address == "/synthmatch/target/loaded" and answers[-1].params[0] == str(target_wav)
        assert all(m.params[0] == str(target_wav) for m in answers if m.address == "/synthmatch/target/loaded")
        client.sendto(build_msg("/synthmatch/status").dgram, ("127.0.0.1", daemon.port))
        assert receive_until(client, "/synthmatch/status")[-1].params[0] == "idle"
        client.sendto(build_msg("/synthmatch/target/load", [str(hostile)]).dgram, ("127.0.0.1", daemon.port))
        (refused,) = receive_until(client, "/synthmatch/error")
    assert "sample rate of 2,147,483,647 Hz, outside 1,000..384,000 Hz" in refused.params[1]
    assert not (Path.cwd() / "pwned").exists()


def test_patch_save_writes_only_bare_names_into_the_patch_folder(
    daemon: Daemon, target_wav: Path, patch_dir: Path, tmp_path: Path
) -> None:
    assert send(daemon.port, "/synthmatch/target/load", str(target_wav), "48").returncode == 0
    assert send(daemon.port, "/synthmatch/match/start", "2").returncode == 0
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text("# mine\n")
    for name in (str(bashrc), "../escape", "sub/dir", ".hidden"):
        result = send(daemon.port, "/synthmatch/patch/save", name)
        assert result.returncode == 1 and f"/synthmatch/error /synthmatch/patch/save {name!r} is not a patch name" \
            in result.stdout
    patch_dir.mkdir(exist_ok=True)
    (patch_dir / "notes.json").write_text("my notes")
    result = send(daemon.port, "/synthmatch/patch/save", "notes")
    assert result.returncode == 1 and "notes.json: exists and is not a synthmatch patch file" in result.stdout
    assert bashrc.read_text() == "# mine\n" and (patch_dir / "notes.json").read_text() == "my notes"
    assert not (tmp_path / "escape.json").exists() and daemon.ping().address == "/synthmatch/pong"
    result = send(daemon.port, "/synthmatch/target/load", str(target_wav), "10")
    assert result.returncode == 1 and "note 10 is outside the synth's playable range 36..84" in result.stdout


def test_send_exits_1_on_an_error_or_no_reply(daemon: Daemon) -> None:
    result = send(daemon.port, "/synthmatch/target/load", "s:42")
    assert result.returncode == 1 and result.stdout.startswith("/synthmatch/error /synthmatch/target/load 42: ")
    result = send(daemon.port, "/synthmatch/match/stop")
    assert result.returncode == 1 and "no match is running" in result.stdout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # a port where nothing answers
        silent.bind(("127.0.0.1", 0))
        result = send(silent.getsockname()[1], "--timeout", "0.3", "/synthmatch/ping")
    assert result.returncode == 1 and "no reply from 127.0.0.1" in result.stderr


def test_send_types_its_arguments() -> None:
    assert parse_argument("42") == 42 and isinstance(parse_argument("42"), int)
    assert parse_argument("-0.5") == -0.5 and parse_argument("1e3") == 1000.0
    assert parse_argument("s:42") == "42" and parse_argument("f:1") == 1.0 and parse_argument("i:7") == 7
    assert parse_argument("take.wav") == "take.wav" and parse_argument("nan") == "nan"
    with pytest.raises(ValueError, match="'x' is not int"):
        parse_argument("i:x")


def test_startup_errors_exit_1_with_one_line(tmp_path: Path) -> None:
    mismatch = subprocess.run([*DAEMON, "--synth", "nekobi", "--model", str(model_dir())], capture_output=True,
                              text=True, timeout=60)
    assert mismatch.returncode == 1 and "does not fit synth 'nekobi'" in mismatch.stderr
    (tmp_path / "daemon.toml").write_text('osc_port = 9000\nmidi_prot = "virtual"\n')
    typo = subprocess.run([*DAEMON, "--config", str(tmp_path / "daemon.toml")], capture_output=True, text=True,
                          timeout=60)
    assert typo.returncode == 1 and "unknown key 'midi_prot'; did you mean midi_port" in typo.stderr


def test_a_searching_daemon_plays_searched_steps_from_the_first(target_wav: Path) -> None:
    plain, searching = Daemon(), Daemon("--search", "8")  # fresh: both start from the default patch
    try:
        assert "(search: 8 candidates a step)" in "".join(searching.banner)
        replies = {}
        for name, port in (("agent", plain.port), ("search", searching.port)):
            assert send(port, "/synthmatch/target/load", str(target_wav), "48").returncode == 0
            replies[name] = send(port, "/synthmatch/match/start", "32").stdout.splitlines()
            done = replies[name][-1].split()
            assert done[:2] == ["/synthmatch/match/done", "32"] and float(done[2]) < float(done[6])  # closer than
        # its start. The plain match hears the one-shot guess and the start bank first, the searching one searches
        # from the default patch at once (docs/osc.md, `search`): their steps differ from the first reply on
        assert replies["search"][0] != replies["agent"][0]
    finally:
        plain.stop()
        searching.stop()
    live = subprocess.run([*DAEMON, "--render", "live", "--search", "8"], capture_output=True, text=True, timeout=60)
    assert live.returncode == 1 and "a live synth plays one note at a time" in live.stderr


@pytest.mark.vst3
def test_the_daemon_matches_a_vst3_synth_whose_plugin_renders_only_on_the_main_thread(
    nekobi_synth: Vst3Synth, tmp_path: Path
) -> None:
    target = tmp_path / "bass.wav"
    patch = quantise_all(nekobi_synth.definition, np.random.default_rng(3).random(len(nekobi_synth.parameters)))
    with AudioFile(str(target), "w", samplerate=nekobi_synth.sample_rate, num_channels=1) as file:
        file.write(nekobi_synth.render(patch[None], 45))
    daemon = Daemon("--synth", "nekobi")
    try:
        assert "nekobi (vst3, 8 parameters, rendered in-process)" in "".join(daemon.banner)
        assert send(daemon.port, "/synthmatch/target/load", str(target), "45").returncode == 0
        # the level probes of the best patch (33 Nekobi renders, slow at low volume) come before done
        lines = send(daemon.port, "--timeout", "30", "/synthmatch/match/start", "4").stdout.splitlines()
        assert [line.split()[:2] for line in lines[:4]] == [["/synthmatch/progress", str(k)] for k in range(1, 5)]
        assert lines[-1].startswith("/synthmatch/match/done 4 ")
    finally:
        status, _, stderr = daemon.stop()
    assert status == 0 and "Traceback" not in stderr


def test_a_busy_port_is_a_clear_error(daemon: Daemon) -> None:
    busy = subprocess.run([*DAEMON, "--osc-port", str(daemon.port)], capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1 and f"cannot listen for OSC on 127.0.0.1:{daemon.port}" in busy.stderr
    assert daemon.ping().address == "/synthmatch/pong"


def test_the_config_file_is_overridden_by_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "daemon.toml"
    path.write_text('osc_port = 9100\nmidi_port = 2\nmodel = "models/mine"\nlog_level = "debug"\n')
    config = load_config(path, {"osc_port": 9200, "render": "live"})
    assert config == DaemonConfig(osc_port=9200, midi_port="2", model=tmp_path / "models/mine", log_level="debug",
                                  render="live")
    assert config.live_options().midi_port == "2" and config.live_options().render == "live"
    assert load_config(None, {}) == DaemonConfig()
    for text, message in [
        ("osc_port = 70000\n", "osc_port = 70000 must be an integer in 0..65535"),
        ('render = "sometimes"\n', "must be one of auto, in-process, live"),
        ('osc_target = "localhost"\n', "must be host:port"),
        ('osc_target = "localhost:\u00b2"\n', "must be host:port"),  # a digit to isdigit, not to int
        ("osc_port = [\n", "not valid TOML"),
        ("search = 0\n", "search = 0 must be an integer in 1..256"),
    ]:
        path.write_text(text)
        with pytest.raises(DaemonConfigError, match=message):
            load_config(path, {})
    with pytest.raises(DaemonConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml", {})


def test_the_patch_folder_comes_from_the_config_file_or_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "daemon.toml"
    path.write_text('patch_dir = "my patches"\n')
    assert load_config(path, {}).patch_dir == tmp_path / "my patches"  # relative to the file, like model
    assert load_config(path, {"patch_dir": Path("/srv/patches")}).patch_dir == Path("/srv/patches")
    assert load_config(None, {}).patch_dir is None  # the session then uses $XDG_DATA_HOME/synthmatch/patches
    path.write_text("patch_dir = 3\n")
    with pytest.raises(DaemonConfigError, match="patch_dir = 3 must be a path"):
        load_config(path, {})


def model_dir() -> Path:
    from synthmatch.agent import default_model_dir
    from synthmatch.definitions import find_definition

    return default_model_dir(find_definition("builtin"))


def test_read_banner_finds_the_port_and_stops_at_the_last_line_or_says_it_never_came() -> None:
    """The one banner reader every test and bench uses: the port from the listening line, no reading past
    "stop with" (the daemon keeps running), and None when the output ends first (the daemon did not start)."""
    lines = iter(["synthmatch daemon 1.0\n", "listening on udp://127.0.0.1:45123 (OSC)\n", "stop with Ctrl-C\n",
                  "not read\n"])
    banner, port = read_banner(lines)
    assert port == 45123 and len(banner) == 3 and next(lines) == "not read\n"
    assert read_banner(["error: no such synth\n"]) == (["error: no such synth\n"], None)
