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


class DailySpendLimitReached(ApplicationError):
    """402 `daily_limit`: the spend would pass the user's credits-per-UTC-day limit. Nothing is
    charged; `retry_after` (the Retry-After header) is the seconds to the next 00:00 UTC."""

    status_code = 402
    default_code = "daily_limit"

    def __init__(self, *, limit: int, spent: int, required: int, retry_after: int):
        super().__init__(
            f"This costs {required} credits and you have spent {spent} of your {limit} credits "
            "for today (UTC); nothing was charged. The limit resets at 00:00 UTC.",
            extra={"limit": limit, "spent": spent, "required": required},
        )
        self.retry_after = retry_after


class BillingUnavailable(ServiceUnavailable):
    default_code = "billing_unavailable"


class PackUnavailable(ApplicationError):
    status_code = 400
    default_code = "pack_unavailable"


class PaymentProviderError(ApplicationError):
    status_code = 502
    default_code = "payment_provider_error"
