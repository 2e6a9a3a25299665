"""Several web processes on one port (`python -m config.webserver`, as `make run` serves): the
kernel spreads connections over them, and a websocket held by one process gets the events of a
job created through another (the channel layer is Redis)."""

from __future__ import annotations

import asyncio
import http.client
import json
import time

import psutil
import pytest
from rest_framework.authtoken.models import Token
from websockets.asyncio.client import connect

from apps.generation.models import Generation
from tests import processes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JOB = {
    "kind": "text_to_video",
    "engine": "procedural",
    "prompt": "a paper boat on a rainy street",
    "params": {"num_frames": 8, "width": 256, "height": 256, "fps": 8, "enhance_prompt": False},
}


def _server_pid(port: int, client_port: int) -> int:
    """The web process holding the server end of the connection from `client_port`."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for c in psutil.net_connections(kind="tcp"):
            ours = c.laddr and c.raddr and c.laddr.port == port and c.raddr.port == client_port
            if ours and c.pid:
                return c.pid
        time.sleep(0.05)  # accepted by the kernel, not yet by a process
    raise AssertionError(f"no process holds the connection from port {client_port}")


def _connection_to(port: int, pid: int, *, other_than: bool = False) -> http.client.HTTPConnection:
    """An HTTP connection that the kernel gave to process `pid` (or to any other one)."""
    for _ in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        served_by = _server_pid(port, conn.sock.getsockname()[1])
        if (served_by != pid) if other_than else (served_by == pid):
            return conn
        conn.close()
    raise AssertionError(f"200 connections and none went {'past' if other_than else 'to'} {pid}")


def _get(conn: http.client.HTTPConnection, path: str, token: str) -> tuple[int, dict]:
    conn.request("GET", path, headers={"Authorization": f"Token {token}"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_two_web_processes_answer_on_one_port(user):
    token = Token.objects.create(user=user).key
    with processes.web_server(processes=2) as base:
        port = int(base.rsplit(":", 1)[1])
        pids = processes.web_pids(base)
        assert len(pids) == 2, pids
        for pid in pids:
            conn = _connection_to(port, pid)
            try:
                assert _get(conn, "/api/v1/ping/", token) == (
                    200,
                    {"ok": True, "user": user.username},
                )
            finally:
                conn.close()


def test_a_websocket_on_one_process_gets_the_events_of_a_job_created_through_the_other(user):
    token = Token.objects.create(user=user).key
    with processes.web_server(processes=2) as base:
        port = int(base.rsplit(":", 1)[1])
        assert len(processes.web_pids(base)) == 2

        async def scenario() -> tuple[int, int, str, list[dict]]:
            url = base.replace("http://", "ws://", 1) + "/ws/me/"
            async with connect(
                url, additional_headers={"Authorization": f"Token {token}"}, origin=base
            ) as ws:
                snapshot = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert snapshot["type"] == "snapshot", snapshot
                ws_pid = await asyncio.to_thread(_server_pid, port, ws.local_address[1])

                def create() -> tuple[int, str]:
                    conn = _connection_to(port, ws_pid, other_than=True)
                    try:
                        served_by = _server_pid(port, conn.sock.getsockname()[1])
                        conn.request(
                            "POST",
                            "/api/v1/generations/",
                            body=json.dumps(JOB),
                            headers={
                                "Authorization": f"Token {token}",
                                "Content-Type": "application/json",
                            },
                        )
                        response = conn.getresponse()
                        body = json.loads(response.read())
                        assert response.status == 201, body
                        return served_by, body["id"]
                    finally:
                        conn.close()

                create_pid, job_id = await asyncio.to_thread(create)
                events = []
                async with asyncio.timeout(30):
                    while True:
                        event = json.loads(await ws.recv())
                        events.append(event)
                        if event.get("id") == job_id:
                            return ws_pid, create_pid, job_id, events

        ws_pid, create_pid, job_id, events = asyncio.run(scenario())

    assert ws_pid != create_pid
    assert events[-1]["status"] == "queued", events[-1]
    assert Generation.objects.filter(pk=job_id, user=user).exists()


def test_a_web_process_that_dies_is_replaced_and_sigterm_stops_them_all(user):
    token = Token.objects.create(user=user).key
    # No grace: a daphne that exits at any time is replaced (the default, 10 s, treats an exit
    # that early as a broken configuration and stops the tier).
    with processes.web_server(processes=2, WEB_STARTUP_GRACE="0") as base:
        port = int(base.rsplit(":", 1)[1])
        first = processes.web_pids(base)
        assert len(first) == 2, first
        supervisor = psutil.Process(next(iter(first))).parent()
        victim = min(first)
        psutil.Process(victim).kill()
        deadline = time.monotonic() + 60
        while True:
            now = processes.web_pids(base)
            if len(now) == 2 and victim not in now:
                break
            assert time.monotonic() < deadline, f"not replaced: {now}"
            time.sleep(0.1)
        replacement = (now - first).pop()
        conn = _connection_to(port, replacement)
        try:
            assert _get(conn, "/api/v1/ping/", token)[0] == 200
        finally:
            conn.close()
        children = supervisor.children()
        supervisor.terminate()
        assert supervisor.wait(timeout=30) == 0
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, alive
