from django.urls import path

from monitoring import views

urlpatterns = [
    path("health/", views.LivenessView.as_view(), name="health-live"),
]
