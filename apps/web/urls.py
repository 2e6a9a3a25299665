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
]
