"""A URL conf for tests: the project's URLs plus a view that enqueues a task and a route only these tests call."""

from django.http import JsonResponse
from django.urls import path

from jarvis.urls import urlpatterns as project_urls
from monitoring.tasks import evaluate_alerts


def enqueue_evaluation(request):
    evaluate_alerts.delay()
    return JsonResponse({"queued": True})


def probe(request, code: int):
    return JsonResponse({"code": code}, status=code)


urlpatterns = [
    path("test/enqueue-evaluation/", enqueue_evaluation),
    path("test/probe/<int:code>/", probe),
    *project_urls,
]
