"""A small threaded HTTP/1.1 file server on 127.0.0.1 that honours Range and counts requests (tests only)."""

from __future__ import annotations

import os
import re
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class RangeServer:
    """Serves the files of ``root`` at ``http://127.0.0.1:<port>/<name>``.

    ``requests`` logs (method, path, Range header) when a request arrives, before
    it is answered, so a client that has its answer is always logged;
    ``bytes_sent`` counts body bytes after they are written (it can lag behind).
    """

    def __init__(self, root: Path, honour_range: bool = True) -> None:
        self.root = Path(root)
        self.honour_range = honour_range
        self.requests: list[tuple[str, str, Optional[str]]] = []
        self.bytes_sent = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30  # a stuck client cannot hold a thread forever

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _target(self) -> Optional[Path]:
                name = self.path.split("?", 1)[0].lstrip("/")
                p = (server.root / name).resolve()
                if server.root.resolve() not in p.parents or not p.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return p

            def _serve(self, body: bool) -> None:
                header = self.headers.get("Range")
                with server._lock:
                    server.requests.append((self.command, self.path, header))
                p = self._target()
                if p is None:
                    return
                size = p.stat().st_size
                start, end = 0, size  # [start, end)
                status = 200
                m = _RANGE.match(header or "")
                if header and server.honour_range and m:
                    a, b = m.groups()
                    if a == "":
                        start, end = max(0, size - int(b)), size
                    else:
                        start, end = int(a), min(size, int(b) + 1 if b else size)
                    if start >= size or start >= end:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self.send_response(status)
                self.send_header("Accept-Ranges", "bytes" if server.honour_range else "none")
                self.send_header("Content-Type", "application/octet-stream")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
                self.send_header("Content-Length", str(end - start))
                self.end_headers()
                if not body:
                    return
                with open(p, "rb") as f:
                    f.seek(start)
                    left = end - start
                    while left:
                        chunk = f.read(min(left, 1 << 20))
                        if not chunk:
                            break
                        try:
                            self.wfile.write(chunk)
                        except (BrokenPipeError, ConnectionResetError):
                            return
                        with server._lock:
                            server.bytes_sent += len(chunk)
                        left -= len(chunk)

            def do_GET(self) -> None:
                self._serve(True)

            def do_HEAD(self) -> None:
                self._serve(False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.timeout = 30
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_sent = 0

    def requested_bytes(self) -> int:
        """Bytes asked for by the GET requests so far (a GET without Range counts as unbounded)."""
        total = 0
        for r in self.gets():
            m = _RANGE.match(r or "")
            if not m or not m.group(1) or not m.group(2):
                return 1 << 62
            total += int(m.group(2)) - int(m.group(1)) + 1
        return total

    def gets(self) -> list[Optional[str]]:
        """The Range headers of the GET requests so far."""
        with self._lock:
            return [r for (method, _p, r) in self.requests if method == "GET"]

    def __enter__(self) -> "RangeServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class time_limit:
    """Fail a test that talks to the server for longer than ``seconds`` (SIGALRM, main thread, POSIX)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __enter__(self) -> "time_limit":
        def expire(signum: int, frame: Any) -> None:
            raise TimeoutError(f"HTTP test still running after {self.seconds} s")

        self.previous = signal.signal(signal.SIGALRM, expire)
        signal.alarm(self.seconds)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.previous)


if __name__ == "__main__":  # pragma: no cover - manual use
    import time

    with RangeServer(Path(os.getcwd())) as s:
        print(s.url(""))
        time.sleep(3600)
