from apps.core.exceptions import ApplicationError, Conflict


class GenerationNotCancelable(Conflict):
    default_code = "not_cancelable"


class IdempotencyKeyReused(Conflict):
    default_code = "idempotency_key_reused"


class InvalidGenerationInput(ApplicationError):
    default_code = "invalid"
