"""Gunicorn settings for the web role (production and `make run`)."""

import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("WEB_THREADS", 4))
worker_class = "gthread"
timeout = 30
graceful_timeout = 25
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
accesslog = None  # request logging comes from Django's JSON logs
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
