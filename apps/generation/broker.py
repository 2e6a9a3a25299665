"""What the broker holds: the ids of the task messages waiting in queues or reserved by workers.

Read from kombu's Redis transport through its own channel (so the broker URL, its options and
the global_keyprefix apply): a queue is a list under the queue's name (one more per priority
step), and a message a worker has reserved (prefetched, or running under acks_late) sits in the
`unacked` hash until it is acknowledged; a worker that dies puts it back. A message in neither
place is gone: nothing will run it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)

MAX_SCAN = 50_000  # messages read per queue; a longer queue is not inspected (None)


def broker_message_ids(queues: Iterable[str]) -> set[str] | None:
    """The task ids the broker holds for these queues (waiting or reserved), or None when the
    broker cannot be read (not Redis, unreachable, a queue too long to scan): then nobody can
    tell a lost message from a waiting one, and callers must not act."""
    from celery import current_app

    try:
        with current_app.connection_for_read() as connection:
            if connection.transport.driver_type != "redis":
                return None
            channel = connection.default_channel
            prefix = channel.global_keyprefix
            with channel.conn_or_acquire() as client:
                ids: set[str] = set()
                for queue in set(queues):
                    for priority in channel.priority_steps:
                        # LRANGE and HVALS are not among the commands kombu's client prefixes.
                        key = prefix + channel._q_for_pri(queue, priority)
                        waiting = client.lrange(key, 0, MAX_SCAN)
                        if len(waiting) > MAX_SCAN:
                            return None
                        ids.update(_task_id(raw) for raw in waiting)
                for raw in client.hvals(prefix + channel.unacked_key):
                    ids.add(_reserved_task_id(raw))
    except Exception as exc:
        logger.warning("Could not read the broker's queues: %s", exc)
        return None
    ids.discard("")
    return ids


def _task_id(raw: bytes) -> str:
    try:
        message = json.loads(raw)
        return str(message["headers"].get("id") or message["properties"]["correlation_id"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def _reserved_task_id(raw: bytes) -> str:
    try:
        message = json.loads(raw)[0]
        return str(message["headers"].get("id") or message["properties"]["correlation_id"])
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return ""
