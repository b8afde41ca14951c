#!/usr/bin/env bash
# Run web (gunicorn), a Celery worker and Celery beat in the foreground; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p .local

# A staff account to sign in with: taken from the environment, or generated and shown once.
if ! $PY manage.py shell -c "
import sys
from django.contrib.auth import get_user_model
sys.exit(0 if get_user_model().objects.filter(is_staff=True).exists() else 1)" >/dev/null; then
  export DJANGO_SUPERUSER_USERNAME=${DJANGO_SUPERUSER_USERNAME:-admin}
  generated=""
  if [ -z "${DJANGO_SUPERUSER_PASSWORD:-}" ]; then
    DJANGO_SUPERUSER_PASSWORD=$($PY -c "import secrets; print(secrets.token_urlsafe(12))")
    export DJANGO_SUPERUSER_PASSWORD
    generated=1
  fi
  $PY manage.py createsuperuser --noinput --email "${DJANGO_SUPERUSER_EMAIL:-admin@example.com}" >/dev/null
  echo "Created staff user '$DJANGO_SUPERUSER_USERNAME'${generated:+ with password '$DJANGO_SUPERUSER_PASSWORD' (shown once)}."
fi

pids=()
stop() {
  trap - INT TERM EXIT
  echo "Stopping web, worker and beat..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

.venv/bin/gunicorn config.wsgi --bind "$HOST:$PORT" --workers "${WEB_CONCURRENCY:-3}" \
  --access-logfile - --graceful-timeout 10 &
pids+=($!)
.venv/bin/celery -A config worker --loglevel INFO --concurrency "${CELERY_CONCURRENCY:-2}" &
pids+=($!)
.venv/bin/celery -A config beat --loglevel INFO &
pids+=($!)

echo
echo "  Product importer is running: open http://$HOST:$PORT/  (Ctrl-C stops everything)"
echo

# When any of the three exits, stop the others: a half-running app is worse than none.
wait -n "${pids[@]}"
