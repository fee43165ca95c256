"""`synthmatch dataset --ray`: the same patches on a local Ray cluster (loopback, started and stopped by PID) as in
one process, and a clear error, not a hang, for an address where no Ray cluster answers."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bench.ray_cluster import free_tcp_port, local_ray_cluster
from synthmatch.datasets import open_dataset
from synthmatch.definitions import find_definition
from synthmatch.synths import open_synth
from synthmatch.synths.vst3 import PluginNotFound

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs Ray: pip install 'synthmatch[ray]'"),
]
COMMAND = [sys.executable, "-m", "synthmatch", "dataset"]
#: Seconds a refused or silent address may take before the test calls it a hang (the command gives up in ~13 s).
HANG_S = 60


def dataset(folder: Path, synth: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `synthmatch dataset` (16 patches, shards of 8) in a process of its own, as a user would."""
    return subprocess.run([*COMMAND, "--synth", synth, "--patches", "16", "--shard-size", "8", "--seed", "3",
                           "--out", str(folder), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A one-node Ray cluster with 2 CPUs on 127.0.0.1 for this module."""
    with local_ray_cluster(cpus=2) as address:
        yield address


@pytest.mark.parametrize("synth", ["builtin", pytest.param("nekobi", marks=pytest.mark.vst3)])
def test_ray_workers_render_the_same_patches_as_one_process(ray_address: str, synth: str, tmp_path: Path) -> None:
    definition = find_definition(synth)
    try:
        open_synth(definition)
    except PluginNotFound:
        pytest.skip("Nekobi not built: run scripts/build-nekobi.sh")
    local = dataset(tmp_path / "local", synth)
    assert local.returncode == 0, local.stderr[-2000:]
    remote = dataset(tmp_path / "ray", synth, "--ray", ray_address, "--workers", "2")
    assert remote.returncode == 0, remote.stderr[-2000:]
    assert "complete" in remote.stderr.splitlines()[-1]
    one = open_dataset(tmp_path / "local", definition).load_all()
    two = open_dataset(tmp_path / "ray", definition).load_all()
    np.testing.assert_array_equal(one[3], two[3])  # the same patches kept
    np.testing.assert_array_equal(one[0], two[0])  # params: exactly
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_allclose(one[2], two[2], atol=1e-4)  # audio: within a tolerance
    assert len(one[3]) > 8


def test_an_address_where_nothing_listens_is_a_clear_error(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_tcp_port()}"
    result = dataset(tmp_path / "d", "builtin", "--ray", address, timeout=HANG_S)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"synthmatch dataset: error: no Ray cluster answers at {address} (connection refused within 3 s); start one "
        f"with `ray start --head --port {address.rsplit(':', 1)[1]}` on that machine, or give the address that "
        "`ray start` printed")


def test_an_address_that_answers_but_is_no_ray_head_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as listener:  # accepts connections, never speaks Ray
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        result = dataset(tmp_path / "d", "builtin", "--ray", address, timeout=HANG_S)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("synthmatch dataset: error:")]
    assert errors == [f"synthmatch dataset: error: something answers at {address}, but no Ray cluster joined within "
                      "10 s; give the address that `ray start --head` printed (HOST:PORT of the head)"]
    assert not (tmp_path / "d" / "shards").exists() or not any((tmp_path / "d" / "shards").iterdir())


def test_more_workers_than_the_cluster_has_cpus_is_refused_not_a_hang(ray_address: str, tmp_path: Path) -> None:
    result = dataset(tmp_path / "d", "builtin", "--ray", ray_address, "--workers", "3", timeout=HANG_S)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("synthmatch dataset: error:")]
    assert errors == [f"synthmatch dataset: error: --workers 3 asks for more actors than the cluster at {ray_address} "
                      "has CPUs (2); give at most 2, or add nodes"]
