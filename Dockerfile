# One image for every Python role (web, workers, beat, flower, bot); docker-compose.yml and deploy/k8s pick the command.
# Build with `make image`: tagged <version>-<commit>, the same two facts in the labels below.
FROM python:3.11-slim-bookworm

ARG VERSION=unknown
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="jarvis" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 JARVIS_VAR_DIR=/var/lib/jarvis \
    JARVIS_VERSION="${VERSION}" JARVIS_COMMIT="${COMMIT}"
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 jarvis \
    && mkdir -p /var/lib/jarvis/backups /var/lib/jarvis/flower /var/lib/jarvis/prometheus \
    && chown -R jarvis /var/lib/jarvis

WORKDIR /app
# The locked dependencies first (their own layer): exactly the versions and files of requirements.lock.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY jarvis ./jarvis
COPY trading ./trading
COPY telegram_app ./telegram_app
COPY monitoring ./monitoring
COPY backups ./backups
COPY assistant ./assistant
COPY manage.py ./
RUN pip install --no-deps . && SECRET_KEY=build-only JARVIS_IGNORE_DOTENV=true python manage.py collectstatic --noinput -v0

USER jarvis
EXPOSE 8000 9100
CMD ["gunicorn", "jarvis.wsgi:application", "-c", "python:jarvis.gunicorn_conf", "--bind", "0.0.0.0:8000"]
