from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from .image_screen import image_screen_check_config

        # A web process asked to screen pictures without transformers stops here, not on the
        # first upload.
        image_screen_check_config()
