"""The installed `ailounge` console script against the real running platform."""

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
from django.conf import settings

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation.models import Generation
from tests.clients.conftest import LONG, SMALL

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

AILOUNGE = Path(sys.executable).parent / "ailounge"


def cli_env(url: str, token: str) -> dict[str, str]:
    env = dict(os.environ, AILOUNGE_URL=url, AILOUNGE_TOKEN=token, COLUMNS="120", LINES="40")
    env.pop("FORCE_COLOR", None)
    return env


def run(env, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(AILOUNGE), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=240
    )


def params(values: dict) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--param", f"{key}={value}")]


class Terminal:
    """`ailounge` under a pseudo-terminal, as a person runs it (so Ctrl-C means SIGINT)."""

    def __init__(self, env, *args: str):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execve(str(AILOUNGE), [str(AILOUNGE), *args], env)
        self.output = b""

    def read_until(self, needle: bytes, timeout: float = 120) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            assert time.monotonic() < deadline, f"no {needle!r} in:\n{self.output.decode()}"
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                try:
                    self.output += os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal
                    break
        assert needle in self.output, self.output.decode()
        return self.output

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def interrupt(self) -> None:
        os.kill(self.pid, signal.SIGINT)

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with_pid, status = os.waitpid(self.pid, os.WNOHANG)
            if with_pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                with contextlib.suppress(OSError):
                    self.output += os.read(self.fd, 4096)
        raise AssertionError(f"ailounge still running:\n{self.output.decode()}")

    def close(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def terminal():
    opened = []

    def start(env, *args):
        opened.append(Terminal(env, *args))
        return opened[-1]

    yield start
    for term in opened:
        term.close()


def wait_for_status(generation_id: str, statuses: set[str], timeout: float = 120) -> Generation:
    deadline = time.monotonic() + timeout
    while (generation := Generation.objects.get(pk=generation_id)).status not in statuses:
        assert time.monotonic() < deadline, f"still {generation.status}"
        time.sleep(0.2)
    return generation


def test_generate_writes_the_mp4_then_status_list_quote_download(
    live_web, worker, token, user, tmp_path
):
    env = cli_env(live_web, token)
    out = tmp_path / "x.mp4"

    made = run(
        env, "generate", "--prompt", "neon rain over a harbour", *params(SMALL), "--out", str(out)
    )

    assert made.returncode == 0, made.stderr
    assert f"saved {out}" in made.stdout
    assert "succeeded" in made.stdout
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == 8

    listed = run(env, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert page["count"] == 1
    job = page["results"][0]
    assert job["status"] == "succeeded"

    status = run(env, "status", job["id"])
    assert status.returncode == 0, status.stderr
    assert job["id"] in status.stdout and "succeeded" in status.stdout
    as_json = json.loads(run(env, "status", job["id"], "--json").stdout)
    assert as_json["id"] == job["id"] and as_json["video_url"]

    quote = run(env, "quote", *params(SMALL), "--json")
    assert quote.returncode == 0, quote.stderr
    assert json.loads(quote.stdout)["credits"] == job["cost_credits"]
    assert f"{job['cost_credits']} credit" in run(env, "quote", *params(SMALL)).stdout

    # `download` without --out writes <id>.mp4 in the current folder.
    fetched = run(env, "download", job["id"], cwd=tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / f"{job['id']}.mp4").read_bytes() == out.read_bytes()

    # --json generate for scripts: the finished Generation and the file it wrote.
    scripted = run(
        env,
        "--json",
        "generate",
        "-p",
        "a lighthouse",
        *params(SMALL),
        "-o",
        str(tmp_path / "y.mp4"),
    )
    assert scripted.returncode == 0, scripted.stderr
    body = json.loads(scripted.stdout)
    assert body["status"] == "succeeded" and Path(body["file"]).is_file()


def test_storyboard_from_a_json_file(live_web, worker, token, tmp_path):
    from tests.images import png_bytes

    (tmp_path / "still.png").write_bytes(png_bytes(320, 192))
    scenes = tmp_path / "scenes.json"
    scenes.write_text(
        json.dumps(
            [
                {"prompt": "neon rain", "duration": 1, "engine": "procedural"},
                {"image": "still.png", "duration": 1, "engine": "procedural"},
            ]
        )
    )
    env = cli_env(live_web, token)
    out = tmp_path / "board.mp4"

    made = run(
        env,
        "storyboard",
        str(scenes),
        "--quality",
        "draft",
        "--transition",
        "cut",
        "--out",
        str(out),
    )

    assert made.returncode == 0, made.stderr + made.stdout
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0


def test_cancel_status_and_errors_without_a_worker(live_web, token, user):
    env = cli_env(live_web, token)

    queued = run(env, "generate", "--prompt", "a slow dawn", *params(SMALL), "--no-wait", "--json")
    assert queued.returncode == 0, queued.stderr
    job = json.loads(queued.stdout)
    assert job["status"] == "queued"

    canceled = run(env, "cancel", job["id"])
    assert canceled.returncode == 0, canceled.stderr
    assert "canceled" in canceled.stdout
    assert credits_balance(user=user) == settings.FREE_CREDITS
    status = run(env, "status", job["id"], "--json")
    assert status.returncode == 1  # the job ended canceled
    assert json.loads(status.stdout)["status"] == "canceled"

    again = run(env, "cancel", job["id"])
    assert again.returncode == 2 and "[" in again.stderr  # the API's code, e.g. [not_cancelable]

    missing = run(env, "status", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 2 and "not_found" in missing.stderr

    no_token = run({**env, "AILOUNGE_TOKEN": ""}, "list")
    assert no_token.returncode == 2 and "AILOUNGE_TOKEN" in no_token.stderr
    assert run({**env, "AILOUNGE_TOKEN": ""}, "--token", token, "list").returncode == 0
    assert run(env, "generate", "--param", "oops").returncode == 2


def test_ctrl_c_answered_no_leaves_the_job_queued(live_web, token, user, terminal):
    env = cli_env(live_web, token)
    term = terminal(env, "generate", "--prompt", "a long wait", *params(SMALL))
    term.read_until(b"queued #1")
    job = Generation.objects.get(user=user)

    term.interrupt()
    term.read_until(f"Cancel job {job.pk}? [y/N]".encode())
    term.send("n\n")

    assert term.wait() == 130
    assert f"ailounge status {job.pk}".encode() in term.output
    job.refresh_from_db()
    assert job.status == "queued"


def test_ctrl_c_answered_yes_cancels_the_running_job_and_refunds_it(
    live_web, worker, token, user, terminal
):
    env = cli_env(live_web, token)
    term = terminal(env, "generate", "--prompt", "a long slow pan across the stars", *params(LONG))
    term.read_until(b"generating")  # the stage, from the live events
    job = Generation.objects.get(user=user)
    assert job.status == "running"

    term.interrupt()
    term.read_until(f"Cancel job {job.pk}? [y/N]".encode())
    term.send("y\n")

    assert term.wait() == 130
    assert f"canceled job {job.pk}; its credits are refunded".encode() in term.output
    job = wait_for_status(job.pk, {"canceled", "failed", "succeeded"})
    assert job.status == "canceled"
    assert LedgerEntry.objects.filter(kind="refund", reference=f"generation:{job.pk}").count() == 1
    assert credits_balance(user=user) == settings.FREE_CREDITS
