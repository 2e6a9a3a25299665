from django.urls import path

from . import views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("create/", views.create, name="create"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/cancel-pending/", views.jobs_cancel_pending, name="jobs_cancel_pending"),
    path("jobs/<uuid:pk>/", views.job, name="job"),
    path("jobs/<uuid:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<uuid:pk>/retry/", views.job_retry, name="job_retry"),
    path("jobs/<uuid:pk>/extend/", views.job_extend, name="job_extend"),
    path(
        "jobs/<uuid:pk>/scenes/<int:index>/retry/",
        views.job_scene_retry,
        name="job_scene_retry",
    ),
    path("create/extend/<uuid:token>.png", views.extend_image, name="extend_image"),
]
