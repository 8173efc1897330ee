from django.urls import path

from monitoring import api, views

urlpatterns = [
    path("health/", views.LivenessView.as_view(), name="health-live"),
    path("health/ready/", views.ReadinessView.as_view(), name="health-ready"),
    path("dashboard/summary/", api.SummaryView.as_view(), name="dashboard-summary"),
    path("dashboard/positions/", api.PositionsView.as_view(), name="dashboard-positions"),
    path("dashboard/trades/", api.TradesView.as_view(), name="dashboard-trades"),
    path("dashboard/alerts/", api.AlertsView.as_view(), name="dashboard-alerts"),
    path("dashboard/uptime/", api.UptimeView.as_view(), name="dashboard-uptime"),
    path("dashboard/budgets/", api.BudgetsView.as_view(), name="dashboard-budgets"),
]
