"""A GPU worker warms up its engines (``DIFFUSERS_WARMUP``) before it consumes from its queues.

Prefork: each pool child warms up in ``worker_process_init`` (after the fork, so CUDA starts in
the child, as it must) and then signals a semaphore; the ``WarmupGate`` worker step, which
starts after the pool and before the consumer, waits for every child's signal (at most
``DIFFUSERS_WARMUP_TIMEOUT`` seconds, default 1800), so the worker takes no message from the
broker until its children are warm. The pool's "process up" timeout is raised to the same, or
Celery would kill a child still compiling. A child that replaces one later (max-tasks-per-child)
warms up the same way before it takes work. Solo and thread pools warm up in the gate itself.

Without ``DIFFUSERS_WARMUP`` none of this does anything. What is warmed up and how is
workers/warmup.py's.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time

from celery import bootsteps, signals

logger = logging.getLogger(__name__)

ENV_WARMUP = "DIFFUSERS_WARMUP"
ENV_TIMEOUT = "DIFFUSERS_WARMUP_TIMEOUT"
_warm = None  # a fork-context semaphore, released once by each child that finished its warm-up


def warmup_spec() -> str:
    return os.environ.get(ENV_WARMUP, "").strip()


def warmup_timeout() -> float:
    return float(os.environ.get(ENV_TIMEOUT, "") or 1800)


def run_warmup() -> None:
    from apps.generation.runtime import engine_options
    from workers.engines import get_engine
    from workers.warmup import parse_warmup, warm_up

    sizes = parse_warmup(warmup_spec())
    started = time.perf_counter()
    results = warm_up(sizes, engine_for=lambda name: get_engine(name, **engine_options(name)))
    failed = sum(1 for r in results if r.error)
    logger.info(
        "Warm-up finished in %.2f s: %d size(s), %d failed",
        time.perf_counter() - started,
        len(results),
        failed,
    )


def _child_warmup(**_kwargs) -> None:
    try:
        run_warmup()
    except Exception:  # a bad spec: logged; the child serves without a warm-up
        logger.exception("Warm-up failed")
    finally:
        if _warm is not None:
            _warm.release()


class WarmupGate(bootsteps.StartStopStep):
    """Worker step: after the pool, before the consumer; blocks until the children are warm."""

    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker, **kwargs):
        self.enabled = _warm is not None
        super().__init__(worker, **kwargs)

    def start(self, worker) -> None:
        if not self.enabled:
            return
        from celery.concurrency.prefork import TaskPool

        if not isinstance(worker.pool, TaskPool):
            _child_warmup()
        children = worker.pool.num_processes if isinstance(worker.pool, TaskPool) else 1
        deadline = time.monotonic() + warmup_timeout()
        logger.info("Warm-up: waiting for %d pool process(es) before consuming", children)
        waiting = children
        while waiting:
            # One second at a time, so a SIGTERM's handler runs (a worker stopped mid warm-up).
            if _warm.acquire(timeout=1.0):
                waiting -= 1
            elif time.monotonic() > deadline:
                logger.warning(
                    "Warm-up: not finished after %.0f s; consuming anyway", warmup_timeout()
                )
                return
        logger.info("Warm-up: done; consuming")


def install(app) -> None:
    """Wire the warm-up into ``app`` (config/celery_app.py calls this at import, before any fork)."""
    global _warm
    app.steps["worker"].add(WarmupGate)
    if warmup_spec():
        _warm = multiprocessing.get_context("fork").Semaphore(0)
        # Read by the pool when it is made, before any step of ours runs.
        app.conf.worker_proc_alive_timeout = warmup_timeout() + 60
    signals.worker_process_init.connect(_child_warmup_if_enabled, weak=False)


def _child_warmup_if_enabled(**kwargs) -> None:
    if warmup_spec():
        _child_warmup(**kwargs)
