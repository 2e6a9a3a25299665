from apps.core.exceptions import ApplicationError, ServiceUnavailable


class InsufficientCredits(ApplicationError):
    status_code = 402
    default_code = "insufficient_credits"

    def __init__(self, *, required: int, balance: int, message: str | None = None):
        super().__init__(
            message
            or f"This costs {required} credits and your balance is {balance}. Buy credits to go on.",
            extra={"required": required, "balance": balance},
        )


class CreditsBlocked(ApplicationError):
    status_code = 402
    default_code = "credits_blocked"


class BillingUnavailable(ServiceUnavailable):
    default_code = "billing_unavailable"


class PackUnavailable(ApplicationError):
    status_code = 400
    default_code = "pack_unavailable"


class PaymentProviderError(ApplicationError):
    status_code = 502
    default_code = "payment_provider_error"
