from django.urls import path

from . import views

app_name = "agents"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("runs/<uuid:run_id>/", views.run_status, name="run_status"),
    path("runs/<uuid:run_id>/cancel/", views.cancel_run, name="cancel_run"),
    path("<slug:slug>/", views.agent_detail, name="detail"),
    path("<slug:slug>/use/", views.use_agent, name="use"),
    path("<slug:slug>/runs/", views.agent_runs, name="runs"),
]
