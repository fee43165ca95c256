"""A socketserver that serves in a background thread: the OSC server and the live view both run this way."""

from __future__ import annotations

import socketserver
import threading


class BackgroundServer(socketserver.BaseServer):
    """Base for the daemon's servers: :meth:`start` serves in a daemon thread, :meth:`close` stops and closes."""

    thread_name = "synthmatch-server"
    """Name of the serving thread, as logs and debuggers show it."""
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a background thread until :meth:`close`."""
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=self.thread_name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving (the request being handled is finished first) and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()
