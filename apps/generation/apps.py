from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "apps.generation"
    label = "generation"
    verbose_name = "Generations"

    def ready(self):
        # Workers register in the fleet registry (the queue schedule counts their slots).
        from . import fleet

        fleet.connect_worker_signals()
