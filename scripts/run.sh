#!/usr/bin/env bash
# Run web (gunicorn), a Celery worker and Celery beat in the foreground; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p .local

# A staff account to sign in with: taken from the environment, or generated and shown once.
# The password goes to createsuperuser alone; web, worker and beat never see it.
if ! $PY manage.py shell -c "
import sys
from django.contrib.auth import get_user_model
sys.exit(0 if get_user_model().objects.filter(is_staff=True).exists() else 1)" >/dev/null; then
  username=${DJANGO_SUPERUSER_USERNAME:-admin}
  password=${DJANGO_SUPERUSER_PASSWORD:-}
  generated=""
  if [ -z "$password" ]; then
    password=$($PY -c "import secrets; print(secrets.token_urlsafe(12))")
    generated=1
  fi
  DJANGO_SUPERUSER_USERNAME=$username DJANGO_SUPERUSER_PASSWORD=$password \
    $PY manage.py createsuperuser --noinput --email "${DJANGO_SUPERUSER_EMAIL:-admin@example.com}" >/dev/null
  echo "Created staff user '$username'${generated:+ with password '$password' (shown once)}."
  unset password
fi
unset DJANGO_SUPERUSER_PASSWORD

pids=()
stop() {
  trap - INT TERM
  echo "Stopping web, worker and beat..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
# Ctrl-C or a TERM is the normal way to stop: a clean stop exits 0.
trap 'stop; exit 0' INT TERM

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

# When any of the three exits, stop the others and fail with its status: a half-running app
# is worse than none.
status=0
wait -n "${pids[@]}" || status=$?
stop
exit "$status"
