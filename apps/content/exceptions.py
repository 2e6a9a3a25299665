from apps.core.exceptions import ApplicationError, Conflict


class PublishingSuspended(ApplicationError):
    status_code = 403
    default_code = "publishing_suspended"


class AlreadyReported(Conflict):
    default_code = "already_reported"


class InvalidModeration(ApplicationError):
    status_code = 400
    default_code = "invalid"


class AlreadyRefunded(Conflict):
    default_code = "already_refunded"
