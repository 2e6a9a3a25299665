"""The diffusers fixtures of tests/workers (tiny models, fresh engine caches) for the recipe."""

from tests.workers.conftest import fresh_engines, tiny_models  # noqa: F401
