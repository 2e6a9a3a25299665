"""A Redis outage is one warning in the worker's log, not a traceback per ETA write.

Against a real redis-server that the test stops and starts again on the same port: the ETA
module's client then meets a refused connection, as a worker does when Redis goes away.
"""

import logging

import pytest
import redis

from apps.generation import eta
from tests import processes

SHAPE = eta.JobShape("procedural", 320, 192, 1, 10)


@pytest.fixture
def eta_redis(monkeypatch):
    """The ETA module pointed at a private Redis the test can stop; a fresh outage state."""
    with processes.restartable_redis(processes.free_port()) as server:
        client = redis.Redis.from_url(server.url, socket_timeout=1.0, socket_connect_timeout=1.0)
        monkeypatch.setattr(eta, "_redis", lambda: client)
        monkeypatch.setattr(eta, "_outage", eta._Outage())
        try:
            yield server
        finally:
            client.close()


def eta_writes(count: int = 20) -> None:
    """What a running job does: an ETA publish per progress write, reads by the web side."""
    for i in range(count):
        eta.running_publish(generation_id="00000000-0000-0000-0000-000000000001", eta_seconds=i)
        eta._running_published("00000000-0000-0000-0000-000000000001")
    eta.profile_get(SHAPE)
    eta.sample_record(shape=SHAPE, pre=0.1, step=0.2, post=0.3)


def eta_records(caplog, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "apps.generation.eta" and r.levelno == level]


def test_an_outage_logs_one_warning_without_traceback_and_one_recovery(eta_redis, caplog):
    caplog.set_level(logging.INFO, logger="apps.generation.eta")
    eta_writes(3)
    assert eta._running_published("00000000-0000-0000-0000-000000000001") is not None
    assert not eta_records(caplog, logging.WARNING)

    eta_redis.stop()
    eta_writes(20)
    warnings = eta_records(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "ETA store (Redis) is unreachable" in warnings[0].getMessage()
    assert warnings[0].exc_info is None  # one line, no traceback
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert eta._running_published("00000000-0000-0000-0000-000000000001") is None

    eta_redis.start()
    eta_writes(5)
    infos = [r for r in eta_records(caplog, logging.INFO) if "reachable again" in r.getMessage()]
    assert len(infos) == 1
    assert len(eta_records(caplog, logging.WARNING)) == 1
    assert eta._running_published("00000000-0000-0000-0000-000000000001") is not None


def test_each_outage_is_reported_again(eta_redis, caplog):
    caplog.set_level(logging.INFO, logger="apps.generation.eta")
    for _ in range(2):
        eta_redis.stop()
        eta_writes(5)
        eta_redis.start()
        eta_writes(2)
    assert len(eta_records(caplog, logging.WARNING)) == 2
    assert len([r for r in eta_records(caplog, logging.INFO) if "again" in r.getMessage()]) == 2


def test_the_failures_after_the_first_are_kept_at_debug(eta_redis, caplog):
    caplog.set_level(logging.DEBUG, logger="apps.generation.eta")
    eta_redis.stop()
    eta_writes(4)
    debug = eta_records(caplog, logging.DEBUG)
    assert len(debug) >= 4 * 2  # every publish and read after the first failure
    assert all(r.exc_info for r in debug)
