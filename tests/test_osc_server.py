"""The OSC interface end to end over real UDP on 127.0.0.1: a python-osc client drives a whole match, and every bad
request is answered with /synthmatch/error while the server keeps serving."""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_process import Daemon
from pedalboard.io import AudioFile
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg
from pythonosc.udp_client import SimpleUDPClient

from synthmatch import __version__
from synthmatch.agent import OnnxAgent, default_model_dir
from synthmatch.audio_files import load_target
from synthmatch.daemon.match_session import MatchSession
from synthmatch.daemon.osc_commands import OscCommands, parse_args
from synthmatch.daemon.osc_server import ERROR_TEXT_CHARS, OscServer
from synthmatch.daemon.session_values import Recorder
from synthmatch.distances import multires_stft_distance
from synthmatch.loudness import loudness_db
from synthmatch.note_length import with_note_length
from synthmatch.output_level import apply_gain
from synthmatch.params import quantise_all
from synthmatch.patches import read_patch
from synthmatch.reach import reach_word
from synthmatch.synths import open_synth

ERROR = "/synthmatch/error"


class Client:
    """A python-osc UDP client that also reads the daemon's replies (sent back to its own port)."""

    def __init__(self, port: int) -> None:
        self.udp = SimpleUDPClient("127.0.0.1", port)

    def send(self, address: str, *args: Any) -> None:
        self.udp.send_message(address, list(args))

    def replies(self, until: str | None = None, timeout: float = 5.0) -> list[tuple[str, list[Any]]]:
        """Replies until one to ``until`` (or an error) arrives, or until ``timeout`` s of silence."""
        received: list[tuple[str, list[Any]]] = []
        while data := self.udp.receive(timeout):
            message = OscMessage(data)
            received.append((message.address, list(message.params)))
            if message.address in (until, ERROR):
                break
        return received

    def ask(self, address: str, *args: Any, until: str | None = None) -> list[tuple[str, list[Any]]]:
        self.send(address, *args)
        return self.replies(until or "")

    def ask_one(self, address: str, *args: Any) -> tuple[str, list[Any]]:
        """The first reply to one message (a second one would show up in the next read)."""
        self.send(address, *args)
        message = OscMessage(self.udp.receive(5.0))
        return message.address, list(message.params)

    def close(self) -> None:
        self.udp.close()


def embedded_session(record: Recorder | None = None, patch_dir: Path | None = None) -> MatchSession:
    """The embedded daemon's session: the built-in synth and its shipped model, saving into ``patch_dir``."""
    synth = open_synth("builtin")
    agent = OnnxAgent.load(default_model_dir(synth.definition), synth.definition)
    return MatchSession(synth, agent, record=record, patch_dir=patch_dir)


@contextmanager
def serving(session: MatchSession) -> Iterator[OscServer]:
    """``session``'s commands served on a free port of 127.0.0.1, shut down as the daemon does."""
    dispatcher = Dispatcher(strict_timing=False)
    server = OscServer(dispatcher, "127.0.0.1", 0)
    OscCommands(session, server.send, server.subscribers).register(dispatcher)
    server.start()
    try:
        yield server
    finally:
        session.close()
        server.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OscServer, MatchSession]]:
    session = embedded_session(patch_dir=tmp_path_factory.mktemp("patches"))
    with serving(session) as server:
        yield server, session


@pytest.fixture()
def client(served: tuple[OscServer, MatchSession]) -> Iterator[Client]:
    client = Client(served[0].port)
    yield client
    client.close()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A target WAV of a random built-in patch, and the distance of the default patch to it."""
    synth = open_synth("builtin")
    patch = quantise_all(synth.definition, np.random.default_rng(11).random(len(synth.parameters)))
    audio = synth.render(patch[None], 52)
    path = tmp_path_factory.mktemp("target") / "target.wav"
    with AudioFile(str(path), "w", samplerate=synth.sample_rate, num_channels=1) as file:
        file.write(audio)
    defaults = quantise_all(synth.definition, np.array(synth.definition.defaults_normalised()))
    start = float(multires_stft_distance(synth.render(defaults[None], 52), audio)[0])
    return path, start


def test_a_whole_match_over_udp(client: Client, target: tuple[Path, float],
                                served: tuple[OscServer, MatchSession]) -> None:
    path, start_distance = target
    assert client.ask_one("/synthmatch/ping") == ("/synthmatch/pong", [__version__])
    address, (loaded, seconds) = client.ask_one("/synthmatch/target/load", str(path), 52)
    assert (address, loaded) == ("/synthmatch/target/loaded", str(path)) and seconds == pytest.approx(1.0)
    before = served[1].snapshot().current_params

    replies = client.ask("/synthmatch/match/start", 32, until="/synthmatch/match/done")
    progress = [args for address, args in replies if address == "/synthmatch/progress"]
    assert [step for step, _ in progress] == list(range(1, 33))
    assert replies[-1][0] == "/synthmatch/match/done"
    steps, best, reach, _, _, said_start = replies[-1][1]
    assert steps == 32 and best == pytest.approx(min(d for _, d in progress), rel=1e-6)
    assert reach == reach_word(best)  # the same word as `synthmatch match` says
    assert best < start_distance and said_start == pytest.approx(served[1].snapshot().distance_start, rel=1e-6)
    assert said_start > best  # the start it reports is the default patch's, not the best

    state, step, distance, best_distance, method, _, _ = client.ask_one("/synthmatch/status")[1]
    assert (state, step, method) == ("idle", 32, "agent")
    assert distance == pytest.approx(progress[-1][1], rel=1e-6) and best_distance == pytest.approx(best, rel=1e-6)

    patch_file = served[1].patch_dir / "patch.json"
    assert client.ask_one("/synthmatch/patch/save", "patch")[1][0] == str(patch_file)  # the full path written
    data = json.loads(patch_file.read_text())
    assert data["synth"]["name"] == "builtin" and data["distance"] == pytest.approx(best, rel=1e-6)
    assert set(data["parameters"]) == set(data["normalised"]) and len(data["parameters"]) == 20
    assert data["target"] == str(path) and data["created"]
    assert read_patch(patch_file).note == 52
    assert [p.name for p in patch_file.parent.iterdir()] == ["patch.json"]  # no temporary file left beside it

    assert client.ask_one("/synthmatch/patch/undo") == ("/synthmatch/patch/undone", [])
    np.testing.assert_array_equal(served[1].snapshot().current_params, before)


def test_the_daemon_holds_the_targets_note_and_reports_its_level(
    client: Client, served: tuple[OscServer, MatchSession], tmp_path: Path
) -> None:
    """A note held 0.3 s at -6 dBFS peak: the daemon plays 0.3 s (not its definition's 0.6 s), and the done reply,
    the status and the saved patch carry that length and the gain that brings the match to the target's level."""
    base = open_synth("builtin").definition
    patch = quantise_all(base, np.random.default_rng(5).random(len(base.parameters)))
    patch[base.parameter_names.index("amp_release_s")] = 0.0  # a quick release: the note's end is clear
    audio = open_synth(with_note_length(base, 0.3, 1.5)).render(patch[None], 60)[0]
    audio *= 10 ** (-6 / 20) / np.max(np.abs(audio))
    path = tmp_path / "short.wav"
    with AudioFile(str(path), "w", samplerate=base.note.sample_rate, num_channels=1) as file:
        file.write(audio[None])
    client.ask_one("/synthmatch/target/load", str(path), 60)
    *_, note_seconds, gain_db, _ = client.ask("/synthmatch/match/start", 4, until="/synthmatch/match/done")[-1][1]
    assert note_seconds == pytest.approx(0.3, abs=0.05) and math.isfinite(gain_db)
    assert client.ask_one("/synthmatch/status")[1][5:] == pytest.approx([note_seconds, gain_db])
    best = served[1].snapshot().best_params
    assert best is not None
    played = open_synth(with_note_length(base, note_seconds)).render(best[None], 60)
    heard = load_target(path, base.note.sample_rate, base.note.render_samples)
    assert float(loudness_db(apply_gain(played, gain_db))[0]) == pytest.approx(float(loudness_db(heard)[0]), abs=0.5)
    saved = read_patch(Path(client.ask_one("/synthmatch/patch/save", "short")[1][0]))
    assert saved.note_seconds == pytest.approx(note_seconds) and saved.gain_db == pytest.approx(gain_db)


def test_stop_ends_a_running_match_with_done(client: Client, target: tuple[Path, float]) -> None:
    client.ask_one("/synthmatch/target/load", str(target[0]))
    client.send("/synthmatch/match/start", 4096)
    assert client.replies(until="/synthmatch/progress")[-1][0] == "/synthmatch/progress"
    client.send("/synthmatch/match/start")
    client.send("/synthmatch/match/stop")
    replies = client.replies(until="/synthmatch/match/done")
    errors = [args for address, args in replies if address == ERROR]
    assert errors and errors[0][0] == "/synthmatch/match/start" and "while matching" in errors[0][1]
    replies += client.replies(until="/synthmatch/match/done")
    addresses = [address for address, _ in replies]
    assert "/synthmatch/match/stopping" in addresses and addresses[-1] == "/synthmatch/match/done"
    steps, best, *_ = replies[-1][1]
    assert 1 <= steps < 4096 and math.isfinite(best)
    assert client.ask_one("/synthmatch/status")[1][0] == "idle"


@pytest.mark.parametrize(
    ("address", "args", "message"),
    [
        ("/synthmatch/nonsense", [], "unknown address; the daemon answers /synthmatch/ping"),
        ("/synthmatch/*", [], "address patterns"),
        ("/synthmatch/ping", [1], "takes 0 argument(s), got 1"),
        ("/synthmatch/target/load", [], "takes 1 to 2 argument(s), got 0"),
        ("/synthmatch/target/load", [42], "argument 1 (path) must be string, got int 42"),
        ("/synthmatch/target/load", ["x.wav", "loud"], "argument 2 (note) must be int, got string 'loud'"),
        ("/synthmatch/target/load", ["/no/such/file.wav"], "no such file"),
        ("/synthmatch/match/start", [2.5], "argument 1 (max_steps) must be int, got float 2.5"),
        ("/synthmatch/match/start", [True], "must be int, got OSC true"),
        ("/synthmatch/match/start", [0], "max_steps 0 must be 1..4096"),
        ("/synthmatch/match/stop", [], "no match is running"),
        ("/synthmatch/patch/save", ["/no/such/folder/p.json"], "'/no/such/folder/p.json' is not a patch name"),
        ("/synthmatch/target/record", [1.0], "no audio input is configured"),
        ("/synthmatch/status", ["now"], "takes 0 argument(s), got 1"),
    ],
)
def test_bad_requests_get_an_error_and_the_server_keeps_serving(
    client: Client, address: str, args: list[Any], message: str
) -> None:
    reply_address, (about, text) = client.ask_one(address, *args)
    assert (reply_address, about) == (ERROR, address) and message in text
    assert client.ask_one("/synthmatch/ping")[0] == "/synthmatch/pong"


def test_a_non_audio_target_is_refused(client: Client, tmp_path: Path) -> None:
    text_file = tmp_path / "notes.wav"
    text_file.write_text("not audio at all\n" * 100)
    address, (about, text) = client.ask_one("/synthmatch/target/load", str(text_file))
    assert (address, about) == (ERROR, "/synthmatch/target/load") and "not a readable audio file" in text


def test_no_target_no_match(tmp_path: Path) -> None:
    with serving(embedded_session()) as server:
        client = Client(server.port)
        assert client.ask_one("/synthmatch/status")[1][:2] == ["idle", 0]
        assert math.isnan(client.ask_one("/synthmatch/status")[1][3])
        for address, args, message in [
            ("/synthmatch/match/start", [], "no target"),
            ("/synthmatch/patch/save", [str(tmp_path / "p.json")], "no best patch yet"),
            ("/synthmatch/patch/undo", [], "nothing to undo"),
        ]:
            reply_address, (about, text) = client.ask_one(address, *args)
            assert (reply_address, about) == (ERROR, address) and message in text
        assert not (tmp_path / "p.json").exists()
        assert client.ask_one("/synthmatch/ping")[0] == "/synthmatch/pong"
        client.close()


def test_a_target_recorded_from_the_live_input(target: tuple[Path, float]) -> None:
    with AudioFile(str(target[0])) as file:
        sound = file.read(file.frames)[0]
    lead = np.zeros(4000, dtype=np.float32)  # the input hears a quarter second of silence first
    with serving(embedded_session(record=lambda seconds: np.concatenate([lead, sound]))) as server:
        client = Client(server.port)
        assert client.ask("/synthmatch/target/record", 1.5, until="/synthmatch/target/recorded") == [
            ("/synthmatch/target/recorded", [1.5])
        ]
        replies = client.ask("/synthmatch/match/start", 8, until="/synthmatch/match/done")
        assert replies[-1][0] == "/synthmatch/match/done" and replies[-1][1][1] < target[1]
        reply_address, (about, text) = client.ask_one("/synthmatch/target/record", 60)
        assert (reply_address, about) == (ERROR, "/synthmatch/target/record") and "at most 30 s" in text
        client.close()


GARBAGE = [
    (b"hello", "", "not an OSC packet (5 bytes)"),
    (b"\x00\x01\x02\x03", "", "not an OSC packet (4 bytes)"),
    (b"/synthmatch/ping\x00\x00\x00\x00,i\x00\x00", "/synthmatch/ping", "argument 1 ('i') needs 4 bytes"),
    (b"", "", "not an OSC packet (0 bytes)"),
    (b"/synthmatch/p\xffng\x00\x00\x00\x00,\x00\x00\x00", "", "the address is not UTF-8 text"),
    (b"#bundle\x00" + b"\x07" * 13, "", "OSC bundle element 1 at byte 16 claims 117901063 bytes"),
]


def exchange(port: int, datagram: bytes) -> tuple[OscMessage, OscMessage]:
    """Send ``datagram`` and then a ping from one raw socket; the first reply and the next one (5 s at most each)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.settimeout(5.0)
        raw.sendto(datagram, ("127.0.0.1", port))
        first = OscMessage(raw.recvfrom(65536)[0])
        raw.sendto(build_msg("/synthmatch/ping", []).dgram, ("127.0.0.1", port))
        return first, OscMessage(raw.recvfrom(65536)[0])


@pytest.mark.parametrize(("garbage", "address", "message"), GARBAGE)
def test_garbage_packets_get_an_error(served: tuple[OscServer, MatchSession], garbage: bytes, address: str,
                                      message: str) -> None:
    error, pong = exchange(served[0].port, garbage)
    assert (error.address, error.params[0]) == (ERROR, address) and message in error.params[1]
    assert pong.address == "/synthmatch/pong"


def nested_bundles(depth: int) -> bytes:
    """A ping inside ``depth`` bundles, one in another."""
    packet = build_msg("/synthmatch/ping", []).dgram
    for _ in range(depth):
        packet = b"#bundle\x00" + bytes(7) + b"\x01" + struct.pack(">i", len(packet)) + packet
    return packet


MATCH_START = b"/synthmatch/match/start\x00"
#: Issue 10's datagrams: the first four hung the daemon for good (100% of a core, SIGTERM ignored), the fifth ended in
#: a RecursionError with no reply, the next two ran a match with arguments dropped, the last two were cut at 8192 bytes.
HOSTILE = [
    pytest.param(b"#bundle\x00" + bytes(7) + b"\x01" + struct.pack(">i", size), "", f"claims {size} bytes",
                 id=f"bundle element of {size} bytes")
    for size in (-4, -8, -12)
] + [
    pytest.param(b"#bundle\x00" + bytes(7) + b"\x01" + struct.pack(">i", -4) + nested_bundles(1), "",
                 "claims -4 bytes", id="bundle element of -4 bytes before a bundle"),
    pytest.param(nested_bundles(330), "", "nested more than 8 deep", id="bundles nested 330 deep"),
    pytest.param(MATCH_START + b",c\x00\x00" + struct.pack(">i", 99), "/synthmatch/match/start",
                 "argument 1 ('c'): the daemon does not read type tag 'c' (char)", id="match/start ,c 99"),
    pytest.param(MATCH_START + b",ci\x00" + struct.pack(">ii", 5, 4000), "/synthmatch/match/start",
                 "argument 1 ('c'): the daemon does not read type tag 'c' (char)", id="match/start ,ci 5 4000"),
    pytest.param(build_msg("/synthmatch/ping", ["x" * 65_479]).dgram, "/synthmatch/ping",
                 "takes 0 argument(s), got 1", id="a 65,504-byte ping"),
    pytest.param(build_msg("/synthmatch/target/load", ["/no/such/" + "d/" * 6000 + "x.wav"]).dgram,
                 "/synthmatch/target/load", "/no/such/d/d/", id="a 12,000-character target path"),
]


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    """A `synthmatch daemon` process that the hostile datagrams go to; it must still stop cleanly on SIGTERM."""
    process = Daemon()
    yield process
    status, _, stderr = process.stop()
    assert status == 0, stderr[-2000:]


@pytest.mark.parametrize(("datagram", "address", "message"), HOSTILE)
def test_hostile_datagrams_are_refused_and_the_daemon_keeps_serving(daemon: Daemon, datagram: bytes, address: str,
                                                                    message: str) -> None:
    error, pong = exchange(daemon.port, datagram)
    assert (error.address, error.params[0]) == (ERROR, address) and message in error.params[1]
    assert len(error.params[1]) <= ERROR_TEXT_CHARS + len(" ... ")  # long texts are cut so the reply fits
    assert pong.address == "/synthmatch/pong"


def test_arguments_are_checked_against_their_spec() -> None:
    from synthmatch.daemon.osc_commands import Arg, CommandError

    spec = (Arg("seconds", float), Arg("note", int, optional=True))
    assert parse_args("/a", (2,), *spec) == [2.0, None]
    assert parse_args("/a", (1.5, 60.0), *spec) == [1.5, 60]
    with pytest.raises(CommandError, match=r"usage: /a <seconds: float> \[note: int\]"):
        parse_args("/a", (), *spec)
    with pytest.raises(CommandError, match="must be float, got float nan"):
        parse_args("/a", (math.nan,), *spec)


def test_the_python_example_in_the_docs_runs(served: tuple[OscServer, MatchSession], target: tuple[Path, float],
                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "osc.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", docs, flags=re.DOTALL)
    shutil.copy(target[0], tmp_path / "target.wav")
    monkeypatch.chdir(tmp_path)  # the example's relative paths are relative to the daemon's working directory
    namespace: dict[str, Any] = {}
    exec(example.replace("9000", str(served[0].port)), namespace)
    assert namespace["steps"] == 32 and namespace["best_distance"] < target[1]
    assert (served[1].patch_dir / "patch.json").is_file() and "/synthmatch/match/done 32" in capsys.readouterr().out
