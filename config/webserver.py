"""Serve HTTP and websockets with WEB_CONCURRENCY daphne processes on one port.

Daphne serves one process; Python runs one thread of it at a time, so one daphne uses one core.
This supervisor opens the listening socket(s) itself and starts WEB_CONCURRENCY daphne processes
(default: the machine's cores) that serve them through `daphne --fd`. Any process can serve any
request or websocket: sessions, throttles and job state are in the database and Redis, and the
channel layer is Redis, so an event published by one process reaches a socket held by another.

On Linux each process gets its own socket bound with SO_REUSEPORT, so the kernel spreads new
connections evenly over the processes (one shared socket would let whichever process wakes first
take a whole burst of connections); elsewhere they share one socket.

    python -m config.webserver --port 8000                       # WEB_CONCURRENCY or the cores
    python -m config.webserver --bind 0.0.0.0 --port 8000 --processes 4 -- --proxy-headers

Arguments after `--` go to every daphne. SIGTERM or SIGINT stops every process (daphne closes
its sockets and finishes what it serves) and the supervisor exits 0. A process that exits on
its own is started again, unless it did so within WEB_STARTUP_GRACE seconds (default 10) of
starting (a broken configuration would only loop): then the others are stopped and the
supervisor exits with that status.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPLICATION = "config.asgi:application"
STARTUP_GRACE = float(os.environ.get("WEB_STARTUP_GRACE", "10"))
STOP_TIMEOUT = 15.0


def default_processes() -> int:
    """WEB_CONCURRENCY when set, else the cores this process may run on."""
    value = os.environ.get("WEB_CONCURRENCY", "").strip()
    if value:
        count = int(value)
        if count < 1:
            raise ValueError(f"WEB_CONCURRENCY must be 1 or more, not {value}")
        return count
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    def __init__(self, *, host: str, port: int, processes: int, daphne_args: list[str]):
        self.host = host
        self.port = port
        self.processes = processes
        self.daphne_args = daphne_args
        # SO_REUSEPORT spreads connections over the sockets on Linux only (BSDs and macOS let
        # the last socket bound take them all).
        self.reuse_port = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
        self.shared: socket.socket | None = None
        self.children: dict[int, tuple[subprocess.Popen, socket.socket | None, float]] = {}
        self.stopping = False

    def _socket_for_child(self) -> socket.socket:
        if self.reuse_port:
            return listening_socket(self.host, self.port, reuse_port=True)
        if self.shared is None:
            self.shared = listening_socket(self.host, self.port, reuse_port=False)
        return self.shared

    def start_child(self, slot: int) -> None:
        sock = self._socket_for_child()
        fd = sock.fileno()
        argv = [sys.executable, "-m", "daphne", "--fd", str(fd), *self.daphne_args, APPLICATION]
        proc = subprocess.Popen(argv, cwd=ROOT, pass_fds=(fd,))
        if self.reuse_port:
            # The child holds the socket now; once it exits the kernel stops routing to it.
            sock.close()
            sock = None
        self.children[slot] = (proc, sock, time.monotonic())

    def stop(self, *_signal_args) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        if self.reuse_port:
            # Fail now, with one clear error, if the port is taken by something that is not us.
            listening_socket(self.host, self.port, reuse_port=True).close()
        for slot in range(self.processes):
            self.start_child(slot)
        print(
            f"web: {self.processes} daphne process(es) on http://{self.host}:{self.port}/ "
            f"(pids {' '.join(str(p.pid) for p, _, _ in self.children.values())})",
            flush=True,
        )
        status = 0
        while not self.stopping:
            time.sleep(0.2)
            for slot, (proc, _sock, started) in list(self.children.items()):
                code = proc.poll()
                if code is None or self.stopping:
                    continue
                if time.monotonic() - started < STARTUP_GRACE:
                    print(f"web: daphne {proc.pid} exited at start ({code}); stopping", flush=True)
                    status = code or 1
                    self.stopping = True
                    break
                print(f"web: daphne {proc.pid} exited ({code}); starting another", flush=True)
                self.start_child(slot)
        self._stop_children()
        if self.shared is not None:
            self.shared.close()
        return status

    def _stop_children(self) -> None:
        procs = [proc for proc, _, _ in self.children.values()]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    daphne_args: list[str] = []
    if "--" in argv:
        index = argv.index("--")
        argv, daphne_args = argv[:index], argv[index + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m config.webserver", description=__doc__.splitlines()[0]
    )
    parser.add_argument("-b", "--bind", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="daphne processes (default: WEB_CONCURRENCY, else the number of cores)",
    )
    args = parser.parse_args(argv)
    processes = args.processes if args.processes is not None else default_processes()
    if processes < 1:
        parser.error("--processes must be 1 or more")
    supervisor = Supervisor(
        host=args.bind, port=args.port, processes=processes, daphne_args=daphne_args
    )
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
