"""A newcomer's first hour: `make run` in a fresh copy of the checkout, the README's API example
against it, Ctrl-C; what `make run` installs; which Redis it uses; no noise that looks like an
error (.env warning, "Error 130", a 503 "not configured" logged at ERROR).

The slow test copies the checkout's files (tracked and untracked, not ignored) into a temporary
folder and runs the real `make run` there with this venv, so it has its own var/ (database,
media, private Redis) and stops everything it started.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest
import requests
from django.test import override_settings
from django.urls import path
from rest_framework.views import APIView

from apps.billing.models import CreditPack
from apps.core.exceptions import ApplicationError, ServiceUnavailable
from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)
# Variables of this test run that must not leak into a `make run` of the copy.
SCRUBBED = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "MEDIA_ROOT",
    "STATIC_ROOT",
    "TEST_RUN_ID",
    "PORT",
    "ENGINES",
    "GENERATION_ENGINE",
    "SVD_MODEL",
    "ZEROSCOPE_MODEL",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
)
ENV_NOT_FOUND = "not found - if you're not configuring"


def copy_checkout(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / os.fsdecode(name)
        if src.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update({"VENV": str(VENV), "PYTHONUNBUFFERED": "1", **extra})
    return env


def processes_in(folder: Path) -> dict[int, str]:
    """Processes whose working directory or command line is inside `folder`: pid -> command."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
            if cwd == str(folder) or cwd.startswith(f"{folder}/") or str(folder) in cmdline:
                found[int(proc.name)] = cmdline.strip()
    return found


def readme_api_block(readme: Path) -> str:
    section = readme.read_text().split("## The API", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "README's API section has no ```sh block"
    return match.group(1)


@pytest.fixture
def checkout(tmp_path):
    folder = copy_checkout(tmp_path / "checkout")
    yield folder
    for pid in processes_in(folder):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_make_run_answers_runs_the_readme_example_and_stops_quietly_on_ctrl_c(checkout):
    port = free_port()
    log = checkout.parent / "make-run.log"
    with open(log, "wb") as out:
        make = subprocess.Popen(
            ["make", "run", f"VENV={VENV}"],
            cwd=checkout,
            env=clean_env(PORT=str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert make.poll() is None, f"make run exited early:\n{log.read_text()[-4000:]}"
            with suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{port}/", timeout=3).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"no answer:\n{log.read_text()[-4000:]}"
            time.sleep(0.5)

        example = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", readme_api_block(checkout / "README.md")],
            cwd=checkout,
            env=clean_env(PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert example.returncode == 0, f"{example.stdout}\n{example.stderr}\n{log.read_text()}"
        assert "succeeded" in example.stdout and "saved var/lounge.mp4" in example.stdout
        video = (checkout / "var" / "lounge.mp4").read_bytes()
        assert video[4:8] == b"ftyp", "the download is not an MP4"

        # The procedural path never loads torch into the worker (nor into any other process).
        for pid, cmd in processes_in(checkout).items():
            with suppress(OSError):
                maps = Path(f"/proc/{pid}/maps").read_text()
                assert "libtorch" not in maps, f"{cmd} has torch loaded"

        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        make.wait(timeout=90)
    finally:
        if make.poll() is None:  # a failure above: stop it the same way, then harder
            with suppress(ProcessLookupError):
                os.killpg(make.pid, signal.SIGINT)
            try:
                make.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(make.pid, signal.SIGKILL)
                make.wait(timeout=10)
    output = log.read_text()

    # run.sh ends with status 0; make itself then dies of the same SIGINT, as it does on Ctrl-C in
    # a terminal, which prints nothing for that (unlike a recipe that failed: "Error 130").
    assert make.returncode in (0, -signal.SIGINT), output[-4000:]
    assert output.rstrip().endswith("AI Lounge stopped."), output[-2000:]
    assert "Error 130" not in output and "make: ***" not in output
    assert ENV_NOT_FOUND not in output
    assert f"AI Lounge is running at http://127.0.0.1:{port}/" in output
    if shutil.which("redis-server"):
        private = re.search(r"Redis: private redis-server on 127\.0\.0\.1:(\d+)", output)
        assert private, output[:3000]
        assert (checkout / "var" / "redis.port").read_text().strip() == private.group(1)
        assert (checkout / "var" / "redis" / "appendonlydir").is_dir()  # persisted
    assert processes_in(checkout) == {}, "left running after Ctrl-C"


# --- what `make run` installs ----------------------------------------------------------------


def wanted(checkout: Path, **env: str) -> str:
    result = subprocess.run(
        ["scripts/install.sh", "--wanted"],
        cwd=checkout,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_make_run_installs_the_ml_stack_only_when_a_diffusion_engine_is_asked_for(checkout):
    assert wanted(checkout) == "run"
    assert wanted(checkout, GENERATION_ENGINE="procedural") == "run"
    assert wanted(checkout, ENGINES="diffusers") == "diffusers"
    assert wanted(checkout, GENERATION_ENGINE="diffusers") == "diffusers"
    assert wanted(checkout, SVD_MODEL="var/models/svd") == "diffusers"
    (checkout / ".env").write_text("ZEROSCOPE_MODEL=cerspense/zeroscope_v2_576w\n")
    assert wanted(checkout) == "diffusers"


def requirements_hash(checkout: Path, *names: str) -> str:
    data = b"".join((checkout / "requirements" / f"{n}.txt").read_bytes() for n in names)
    return hashlib.sha256(data).hexdigest()[:16]


def install(checkout: Path, venv: Path, which: str) -> subprocess.CompletedProcess:
    # PYTHON=false: installing would have to create the venv first, and fails at once saying so.
    return subprocess.run(
        ["scripts/install.sh", which],
        cwd=checkout,
        env=clean_env(VENV=str(venv), PYTHON="/bin/false"),
        capture_output=True,
        text=True,
    )


def test_install_stamps_a_bigger_set_counts_and_a_changed_file_installs_again(checkout, tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / f".installed-dev-{requirements_hash(checkout, 'base', 'worker', 'dev')}").touch()
    for which in ("run", "diffusers", "dev"):
        assert install(checkout, venv, which).returncode == 0  # nothing to do

    with open(checkout / "requirements" / "base.txt", "a") as f:
        f.write("# changed\n")
    for which in ("run", "diffusers", "dev"):
        result = install(checkout, venv, which)
        assert result.returncode != 0 and "needs Python 3.11" in result.stderr

    (venv / f".installed-run-{requirements_hash(checkout, 'base')}").touch()
    assert install(checkout, venv, "run").returncode == 0
    assert install(checkout, venv, "diffusers").returncode != 0


# --- which Redis `make run` uses -------------------------------------------------------------


def redis_for_run(checkout: Path, **env: str) -> list[str]:
    result = subprocess.run(
        ["scripts/ensure_redis.sh", "--run"],
        cwd=checkout,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_each_checkout_gets_its_own_persistent_redis_unless_redis_url_is_set(checkout, tmp_path):
    other = copy_checkout(tmp_path / "other")
    url, command, banner = redis_for_run(checkout)
    other_url, _, _ = redis_for_run(other)
    assert url != other_url
    port = url.removeprefix("redis://127.0.0.1:").removesuffix("/0")
    assert banner == f"Redis: private redis-server on 127.0.0.1:{port} (data in var/redis/)"
    assert f"--port {port} --bind 127.0.0.1 --appendonly yes --dir {checkout}/var/redis" in command
    assert redis_for_run(checkout)[0] == url  # remembered in var/redis.port

    # The remembered port taken by something else: the next free one.
    import socket

    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", int(port)))
        blocker.listen()
        moved = redis_for_run(checkout)[0]
    assert moved != url and moved.startswith("redis://127.0.0.1:")

    from django.conf import settings

    (checkout / ".env").write_text(f"REDIS_URL={settings.REDIS_URL}\n")
    url, command, banner = redis_for_run(checkout)
    assert (url, command) == (settings.REDIS_URL, "")
    assert banner == f"Redis: REDIS_URL from .env ({settings.REDIS_URL})"
    url, _, banner = redis_for_run(other, REDIS_URL=settings.REDIS_URL)
    assert banner.startswith("Redis: REDIS_URL from the environment")


# --- noise that looks like errors ------------------------------------------------------------

SETTINGS_WITH_INFO_LOGGING = (
    "import logging, os, django; logging.basicConfig(level=logging.INFO); "
    "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings.local'; django.setup(); "
    "from django.conf import settings; print(settings.FREE_CREDITS)"
)


def test_settings_read_env_only_when_there_is_one(checkout):
    def free_credits() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", SETTINGS_WITH_INFO_LOGGING],
            cwd=checkout,
            env=clean_env(),
            capture_output=True,
            text=True,
            check=True,
        )

    without = free_credits()
    assert ENV_NOT_FOUND not in without.stderr and ".env" not in without.stderr
    (checkout / ".env").write_text("FREE_CREDITS=7\n")
    assert free_credits().stdout.strip() == "7"


def test_ctrl_c_in_run_sh_ends_with_stopped_and_status_0(checkout):
    """scripts/run.sh's last part on its own: honcho under SIGINT exits 130, run.sh says stopped."""
    script = (checkout / "scripts" / "run.sh").read_text()
    tail = script[script.index("interrupted=") :]
    (checkout / "var").mkdir()
    (checkout / "var" / "Procfile.tiny").write_text("sleeper: sleep 300\n")
    tiny = checkout / "scripts" / "tiny-run.sh"
    tiny.write_text(
        f'procfile=var/Procfile.tiny\nPORT=5000\nexport PATH="{VENV}/bin:$PATH"\n{tail}'
    )
    proc = subprocess.Popen(
        ["bash", str(tiny)],
        cwd=checkout,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for line in proc.stdout:
            if b"sleeper.1 started" in line or b"sleeper started" in line:
                break
        os.killpg(proc.pid, signal.SIGINT)
        rest = proc.stdout.read().decode()
        assert proc.wait(timeout=30) == 0
        assert rest.rstrip().endswith("AI Lounge stopped.")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class _BadGateway(ApplicationError):
    status_code = 502


class _Unconfigured(APIView):
    def post(self, request):
        raise ServiceUnavailable("Nothing is configured here.", code="thing_unavailable")


class _Broken(APIView):
    def post(self, request):
        raise _BadGateway("The provider answered 500.", code="provider_error")


urlpatterns = [path("unconfigured/", _Unconfigured.as_view()), path("broken/", _Broken.as_view())]


def request_log(caplog) -> list[tuple[str, int]]:
    return [(r.levelname, r.status_code) for r in caplog.records if r.name == "django.request"]


def test_checkout_without_stripe_is_one_warning_not_an_error(api, caplog, settings):
    settings.STRIPE_SECRET_KEY = ""
    caplog.set_level(logging.INFO, logger="django.request")
    pack = CreditPack.objects.filter(active=True).first()  # seeded by a migration
    response = api.post("/api/v1/billing/checkout/", {"pack": str(pack.pk)}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "billing_unavailable"
    assert request_log(caplog) == [("WARNING", 503)]


@override_settings(ROOT_URLCONF=__name__)
def test_other_5xx_answers_still_log_at_error(api, caplog):
    caplog.set_level(logging.INFO, logger="django.request")
    assert api.post("/unconfigured/").status_code == 503
    assert api.post("/broken/").status_code == 502
    assert request_log(caplog) == [("WARNING", 503), ("ERROR", 502)]
