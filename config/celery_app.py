"""The Celery application: `celery -A config worker` finds it through config/__init__.py."""

import os

from celery import Celery
from kombu import Queue

from config.warmup import install as install_warmup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("ai_lounge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("cpu"), Queue("gpu"), Queue("maintenance"))
app.autodiscover_tasks()
# Storyboards are a package inside apps.generation, with their own tasks module.
app.autodiscover_tasks(["apps.generation.storyboards"])
# Housekeeping tasks (reaper, re-enqueue of lost messages) on the maintenance queue.
app.autodiscover_tasks(["apps.generation"], related_name="maintenance")
# GPU workers with DIFFUSERS_WARMUP warm their engines up before they consume (config/warmup.py).
install_warmup(app)
