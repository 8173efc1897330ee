# One image for every Python role (web, workers, beat, flower, bot); docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 JARVIS_VAR_DIR=/var/lib/jarvis
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 jarvis \
    && mkdir -p /var/lib/jarvis && chown jarvis /var/lib/jarvis

WORKDIR /app
COPY pyproject.toml README.md ./
COPY jarvis ./jarvis
COPY trading ./trading
COPY telegram_app ./telegram_app
COPY monitoring ./monitoring
COPY backups ./backups
COPY manage.py ./
RUN pip install . && SECRET_KEY=build-only JARVIS_IGNORE_DOTENV=true python manage.py collectstatic --noinput -v0

USER jarvis
EXPOSE 8000
CMD ["gunicorn", "jarvis.wsgi:application", "-c", "python:jarvis.gunicorn_conf", "--bind", "0.0.0.0:8000"]
