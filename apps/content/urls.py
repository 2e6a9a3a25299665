from django.urls import path

from . import apis

urlpatterns = [
    path("content/", apis.ContentPublicListApi.as_view(), name="content-list"),
    path("content/mine/", apis.ContentMineListApi.as_view(), name="content-mine"),
    path("content/<uuid:pk>/", apis.ContentDetailApi.as_view(), name="content-detail"),
    path("content/<uuid:pk>/report/", apis.ContentReportApi.as_view(), name="content-report"),
    path("content/<uuid:pk>/moderate/", apis.ContentModerateApi.as_view(), name="content-moderate"),
]
