from django.apps import AppConfig


class ContentConfig(AppConfig):
    name = "apps.content"
    label = "content"
    verbose_name = "Content and moderation"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the signal receivers)
