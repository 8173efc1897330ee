from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from monitoring import views as monitoring_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("monitoring.urls")),
    path("telegram/", include("telegram_app.urls")),
    path("metrics", monitoring_views.metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
