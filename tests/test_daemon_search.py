"""A daemon for a synth without a model: it says it matches by search, and a match over real UDP gets closer."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from daemon_process import Daemon
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg

from synthmatch.definitions import DEFINITIONS_PATH_VAR, find_definition
from synthmatch.distances import log_spectra, log_spectra_distance
from synthmatch.matching import start_patch
from synthmatch.model_choice import SEARCH_WITHOUT_MODEL
from synthmatch.prepared_target import read_prepared_target
from synthmatch.synths import open_synth


@pytest.fixture(scope="module")
def no_model_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon for "nomodel", the builtin definition under another name, found through $SYNTHMATCH_DEFINITIONS."""
    folder = tmp_path_factory.mktemp("synths")
    builtin = resources.files("synthmatch.synthdefs").joinpath("builtin.toml").read_text(encoding="utf-8")
    assert 'name = "builtin"' in builtin
    (folder / "nomodel.toml").write_text(builtin.replace('name = "builtin"', 'name = "nomodel"', 1), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DEFINITIONS_PATH_VAR, str(folder))
        daemon = Daemon("--synth", "nomodel", "--patch-dir", str(tmp_path_factory.mktemp("patches")))
    yield daemon
    daemon.stop()


def ask(port: int, address: str, *args: object, until: str) -> list[OscMessage]:
    """Send one message from a fresh socket; the replies up to and with the first to ``until`` (or an error)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.settimeout(20.0)
        client.sendto(build_msg(address, list(args)).dgram, ("127.0.0.1", port))
        replies = [OscMessage(client.recv(65536))]
        while replies[-1].address not in (until, "/synthmatch/error"):
            replies.append(OscMessage(client.recv(65536)))
        return replies


def test_the_banner_and_status_say_it_matches_by_search(no_model_daemon: Daemon) -> None:
    banner = "".join(no_model_daemon.banner)
    said = f"no model (none shipped for 'nomodel'): matching by search ({SEARCH_WITHOUT_MODEL})"
    assert "nomodel" in banner and said in banner
    (status,) = ask(no_model_daemon.port, "/synthmatch/status", until="/synthmatch/status")
    assert status.params[0] == "idle" and status.params[4] == SEARCH_WITHOUT_MODEL


def test_a_match_by_search_over_osc_ends_closer_than_it_started(no_model_daemon: Daemon, target_wav: Path) -> None:
    port = no_model_daemon.port
    assert ask(port, "/synthmatch/target/load", str(target_wav), 48, until="/synthmatch/target/loaded")[-1].address \
        == "/synthmatch/target/loaded"
    replies = ask(port, "/synthmatch/match/start", 24, until="/synthmatch/match/done")
    progress = [reply.params for reply in replies if reply.address == "/synthmatch/progress"]
    done = replies[-1]
    assert done.address == "/synthmatch/match/done", done.params
    steps, best, _reach, _note_seconds, _gain_db, start = done.params
    assert steps == len(progress) == 24  # 25 renders: the default patch, then the search's 24
    assert start == pytest.approx(default_patch_distance(target_wav, 48), rel=1e-4)  # done says where it began
    assert best < start and best == min(distance for _, distance in progress)


def default_patch_distance(target_wav: Path, note: int) -> float:
    """How far the definition's default patch, where a search starts, is from the target as the daemon loads it."""
    target = read_prepared_target(target_wav, find_definition("builtin"), note=note)
    synth = open_synth(target.definition)  # holding the note as long as the target's, as the daemon does
    audio = synth.render(start_patch(synth, None)[None], note)
    return float(log_spectra_distance(log_spectra(target.audio[None]), log_spectra(audio))[0])


def test_any_registered_search_can_be_asked_for_and_a_wrong_name_gets_a_hint(
    no_model_daemon: Daemon, target_wav: Path
) -> None:
    port = no_model_daemon.port
    ask(port, "/synthmatch/target/load", str(target_wav), until="/synthmatch/target/loaded")
    for method in ("random", "ngopt"):  # nevergrad's too: the daemon offers every registered method
        done = ask(port, "/synthmatch/match/start", 6, method, until="/synthmatch/match/done")[-1]
        assert done.address == "/synthmatch/match/done" and done.params[0] == 6, done.params  # the start, then 6
    (error,) = ask(port, "/synthmatch/match/start", 6, "randon", until="/synthmatch/match/done")
    assert error.address == "/synthmatch/error" and "did you mean random" in error.params[1]
    (error,) = ask(port, "/synthmatch/match/start", 6, "agent", until="/synthmatch/match/done")
    assert error.address == "/synthmatch/error" and "needs a model" in error.params[1]
    assert no_model_daemon.ping().address == "/synthmatch/pong"  # still serving
