"""The media pipeline: engines, frame encoding and probing.

Free of Django: everything here takes plain parameters and returns frames or files, so it can
run in a Celery worker, a benchmark or a test without settings or a database.
"""
