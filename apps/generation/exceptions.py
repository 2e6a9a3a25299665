from apps.core.exceptions import ApplicationError, Conflict, ServiceUnavailable


class GenerationNotCancelable(Conflict):
    default_code = "not_cancelable"


class IdempotencyKeyReused(Conflict):
    default_code = "idempotency_key_reused"


class InvalidGenerationInput(ApplicationError):
    default_code = "invalid"


class QueueUnavailable(ServiceUnavailable):
    """The broker could not take a new job: nothing was started, and nothing stays charged."""

    default_code = "queue_unavailable"
