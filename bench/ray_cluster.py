"""A Ray cluster of one node on loopback, for the Ray benchmark and tests: started and stopped by its PID.

``ray start --head --block`` runs in the foreground, so the process this module starts owns the whole cluster
(GCS, raylet, workers); SIGTERM to it drains and stops them all. Ray otherwise swaps 127.0.0.1 for the machine's
LAN address: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps every port on loopback. The session folder is private.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Seconds to wait for the head to come up, and to go down on SIGTERM before it is killed.
START_S, STOP_S = 90.0, 30.0
#: The line `ray start --block` prints once the cluster is up.
READY = "block forever"


class ClusterUnavailable(RuntimeError):
    """Ray is not installed, or the head did not come up."""


def ray_executable() -> str:
    """The `ray` command of this Python's environment (so that its workers import this synthmatch)."""
    beside = Path(sys.executable).with_name("ray")
    if beside.exists():
        return str(beside)
    found = shutil.which("ray")
    if found is None:
        raise ClusterUnavailable("Ray is not installed: pip install 'synthmatch[ray]'")
    return found


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_ray_cluster(cpus: int = 2) -> Iterator[str]:
    """A one-node Ray cluster with ``cpus`` CPUs on 127.0.0.1; yields its address; stopped by PID on leaving."""
    executable = ray_executable()
    port = free_tcp_port()
    folder = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    process = subprocess.Popen(
        [executable, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--num-cpus", str(cpus), "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", folder],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )
    try:
        _wait_until_ready(process)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_ready(process: subprocess.Popen[str]) -> None:
    """Read the head's output until it says it is up; ClusterUnavailable with that output if it never does."""
    assert process.stdout is not None
    deadline, lines = time.monotonic() + START_S, []
    for line in process.stdout:
        lines.append(line)
        if READY in line:  # from now on nobody reads its output: drain it, so that a full pipe cannot block it
            threading.Thread(target=process.stdout.read, name="ray-head-output", daemon=True).start()
            return
        if time.monotonic() > deadline:
            break
    raise ClusterUnavailable("ray start did not come up:\n" + "".join(lines[-20:]))


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the head (it stops the cluster), SIGKILL its process group if it has not gone after STOP_S."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group this Popen started (start_new_session)
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
