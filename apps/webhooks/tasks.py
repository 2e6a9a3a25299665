"""The delivery task: one attempt per run, retried with exponential backoff.

Retries (settings WEBHOOK_RETRY_BACKOFF, WEBHOOK_RETRY_BACKOFF_MAX, WEBHOOK_MAX_RETRIES) wait up
to 30 s, 1, 2, 4, 8, 16, 32 min, then up to an hour five times (12 retries), each wait drawn at
random up to its step (full jitter): about 6 hours at most, 3 on average. The longest wait
stays under the broker's visibility timeout, so a waiting retry is not handed out twice; a
repeat would carry the same webhook-id anyway.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .services import DELIVER_TASK, webhook_attempt


class DeliveryRetry(Exception):
    """The receiver answered with an error or did not answer: try again later."""


@shared_task(
    name=DELIVER_TASK,
    bind=True,
    ignore_result=True,
    autoretry_for=(DeliveryRetry,),
    retry_backoff=settings.WEBHOOK_RETRY_BACKOFF,
    retry_backoff_max=settings.WEBHOOK_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=settings.WEBHOOK_MAX_RETRIES,
    soft_time_limit=60,
    time_limit=90,
)
def webhook_deliver(self, delivery_id: str) -> str:
    outcome = webhook_attempt(
        delivery_id=delivery_id, last=self.request.retries >= self.max_retries
    )
    if outcome == "retry":
        raise DeliveryRetry(f"webhook delivery {delivery_id}: will retry")
    return outcome
