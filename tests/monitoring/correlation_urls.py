"""A URL conf for the correlation test: the project's URLs plus one view that enqueues a task."""

from django.http import JsonResponse
from django.urls import path

from jarvis.urls import urlpatterns as project_urls
from monitoring.tasks import evaluate_alerts


def enqueue_evaluation(request):
    evaluate_alerts.delay()
    return JsonResponse({"queued": True})


urlpatterns = [path("test/enqueue-evaluation/", enqueue_evaluation), *project_urls]
