from django.urls import path

from .views import create, extend, jobs, pages

app_name = "web"
urlpatterns = [
    path("", pages.home, name="home"),
    path("create/", create.create, name="create"),
    path("create/extend/<uuid:token>.png", extend.extend_image, name="extend_image"),
    path("jobs/", jobs.jobs, name="jobs"),
    path("jobs/cancel-pending/", jobs.jobs_cancel_pending, name="jobs_cancel_pending"),
    path("jobs/<uuid:pk>/", jobs.job, name="job"),
    path("jobs/<uuid:pk>/cancel/", jobs.job_cancel, name="job_cancel"),
    path("jobs/<uuid:pk>/retry/", jobs.job_retry, name="job_retry"),
    path("jobs/<uuid:pk>/rerun/", jobs.job_rerun, name="job_rerun"),
    path("jobs/<uuid:pk>/extend/", extend.job_extend, name="job_extend"),
    path(
        "jobs/<uuid:pk>/scenes/<int:index>/retry/",
        jobs.job_scene_retry,
        name="job_scene_retry",
    ),
]
