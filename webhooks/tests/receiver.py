"""A real HTTP(S) receiver on loopback for webhook tests: records requests, answers as scripted."""

import contextlib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    trickle: float = 0.0  # seconds between the bytes of the status line and headers
    hold: threading.Event | None = None  # answer only once the test sets it


@dataclass
class ReceivedRequest:
    path: str
    headers: dict  # lower-case names
    body: bytes


class Receiver:
    """Listens on `host` (the first address it resolves to, the one the sender connects to);
    with `tls`, a server-side SSLContext holding the certificate, it speaks HTTPS and records
    the TLS server name (SNI) each client asked for in `server_names`."""

    def __init__(self, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None):
        self.requests: list[ReceivedRequest] = []
        self.server_names: list[str | None] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 30  # a sender that went away never holds a thread for long

            def setup(self):
                super().setup()
                if tls:
                    self.request.do_handshake()

            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                reply = receiver._record(ReceivedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if reply.hold:
                    reply.hold.wait(timeout=30)
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(reply.body)))
                    if reply.trickle:
                        for byte in b"".join(self._headers_buffer) + b"\r\n":
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(reply.trickle)
                        self._headers_buffer = []
                    else:
                        self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the sender gave up (timeout tests)

            def log_message(self, *args):
                pass

        family, _, _, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a refused handshake or a sender that hung up: the test asserts on what arrived

        self.server = Server(address[:2], Handler)
        port = self.server.server_port
        if tls:
            tls.sni_callback = lambda _sock, server_name, _context: self.server_names.append(server_name)
            # The handshake runs in the request's thread, so a stalled client never blocks accept().
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
        self.url = f"{'https' if tls else 'http'}://{host}:{port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _record(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self._replies.pop(0) if self._replies else Reply()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, then 200 "ok"."""
        with self._lock:
            self._replies.extend(replies)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} requests, received {len(self.requests)}")
            time.sleep(0.02)
        return self.requests

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class SlowRelay:
    """Relays connections to `port` on `host`, passing the server's bytes on one at a time,
    `interval` apart: a receiver that drags out its TLS handshake (or anything else)."""

    def __init__(self, *, host: str, port: int, interval: float):
        family, _, _, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
        self._upstream = (address[0], port)
        self._interval = interval
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.bind(address[:2])
        self._listener.listen()
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the listener closed: the test ended
            while True:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self._upstream)
                threading.Thread(target=self._pump, args=(client, upstream, 0.0), daemon=True).start()
                threading.Thread(target=self._pump, args=(upstream, client, self._interval), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, interval: float) -> None:
        with contextlib.suppress(OSError), source, sink:  # either side hung up
            while data := source.recv(4096):
                for piece in ([data[i : i + 1] for i in range(len(data))] if interval else [data]):
                    sink.sendall(piece)
                    time.sleep(interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._listener.close()
