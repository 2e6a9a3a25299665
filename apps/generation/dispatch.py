"""Enqueue a Celery task by its registered name.

Services decide what runs next; tasks call services. Sending by name keeps the imports one way
(tasks → services, never back), and a process that sends need not import the task's module: a
web process sends the message by name (`send_task`); one that has the task registered (a worker,
the tests) goes through the task's own `apply_async`, with its options and eager mode.
"""

from __future__ import annotations

import uuid

from celery import current_app
from celery.exceptions import NotRegistered

GENERATION_RUN = "generation.run"
STORYBOARD_SCENE = "generation.storyboard_scene"
STORYBOARD_ASSEMBLE = "generation.storyboard_assemble"


def task_send(name: str, *args: str, queue: str, task_id: str | None = None) -> None:
    """Send task `name` with positional `args` to `queue`, under `task_id` when given (so the
    row can say which message should run it); raises when the broker cannot take it."""
    options = {"queue": queue}
    if task_id:
        options["task_id"] = task_id
    try:
        task = current_app.tasks[name]
    except NotRegistered:
        current_app.send_task(name, args=list(args), **options)
    else:
        task.apply_async(args=list(args), **options)


def new_task_id() -> str:
    return uuid.uuid4().hex
