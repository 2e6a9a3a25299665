from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    verbose_name = "Outgoing webhooks"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the generation signals' receivers)
