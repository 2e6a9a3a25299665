from django.urls import path

from . import views

app_name = "webhooks"
urlpatterns = [
    path("settings/webhook-secret/", views.secret_rotate, name="secret_rotate"),
]
