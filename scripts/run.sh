#!/usr/bin/env bash
# Run the app on its embedded defaults: SQLite, sandbox payments on localstripe, demo data, and one
# task worker plus the chore scheduler beside the server (both stopped with it).
#
# Sandbox mode (no STRIPE_SECRET_KEY in the environment or .env, or STRIPE_SANDBOX=1): start
# localstripe in the background on LOCALSTRIPE_PORT (stopped again when this script exits), so card
# top-ups work offline with Stripe's test cards. With real keys nothing of the sandbox runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export DEBUG=${DEBUG:-True}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

# Ask Django itself, so the environment and .env are read exactly as the app will read them.
# CONFIGURED_SITE_URL: SITE_URL as set in the environment or .env, "-" when not set.
read -r SANDBOX LS_PORT API_BASE TASKS_BACKEND CONFIGURED_SITE_URL < <(
  $PY manage.py shell -v 0 -c "from django.conf import settings as s; from decouple import config; \
print(int(s.STRIPE_SANDBOX), s.LOCALSTRIPE_PORT, s.STRIPE_API_BASE or '-', s.TASKS_BACKEND, \
config('SITE_URL', default='') or '-')"
)
[ -n "${SANDBOX:-}" ] || { echo "could not read the settings (see the error above)" >&2; exit 1; }

# Links in emails (password reset, receipts, auto-recharge, low balance) go to SITE_URL. Unless it is
# set, it follows HOST and PORT, for the server and for the worker that sends the emails.
if [ "$CONFIGURED_SITE_URL" = "-" ]; then
  case "$HOST" in
    0.0.0.0|::|"") LINK_HOST=127.0.0.1 ;;  # listening everywhere: this machine's own address
    *:*) LINK_HOST="[$HOST]" ;;            # an IPv6 address
    *) LINK_HOST=$HOST ;;
  esac
  export SITE_URL="http://$LINK_HOST:$PORT"
fi
LOCALSTRIPE_LOG=${LOCALSTRIPE_LOG:-${TMPDIR:-/tmp}/netcop-localstripe-$LS_PORT.log}

port_open() {
  $PY - "$1" <<'EOF'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5).close()
except OSError:
    sys.exit(1)
EOF
}

LOCALSTRIPE_PID=""
WORKER_PID=""
SCHEDULER_PID=""
stop_pid() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
cleanup() {
  [ -n "$WORKER_PID$SCHEDULER_PID" ] && echo "== stopping the task worker and the scheduler"
  stop_pid "$SCHEDULER_PID"
  stop_pid "$WORKER_PID"
  stop_pid "$LOCALSTRIPE_PID"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$SANDBOX" = "1" ]; then
  LOCALSTRIPE=${LOCALSTRIPE:-$(dirname "$PY")/localstripe}
  if [ "$API_BASE" != "http://127.0.0.1:$LS_PORT" ] && [ "$API_BASE" != "http://localhost:$LS_PORT" ]; then
    echo "== sandbox mode: STRIPE_API_BASE is $API_BASE (not starting localstripe)"
  elif port_open "$LS_PORT"; then
    # Probably a localstripe left over from another run: use it rather than fail.
    echo "== sandbox mode: something already listens on port $LS_PORT; using it as localstripe"
  else
    if [ ! -x "$LOCALSTRIPE" ]; then
      echo "localstripe not found at $LOCALSTRIPE (pip install -r requirements-dev.txt)" >&2
      exit 1
    fi
    echo "== sandbox mode: starting localstripe on port $LS_PORT (set STRIPE_SECRET_KEY for real Stripe)"
    "$LOCALSTRIPE" --port "$LS_PORT" --from-scratch >"$LOCALSTRIPE_LOG" 2>&1 &
    LOCALSTRIPE_PID=$!
    for _ in $(seq 1 100); do
      port_open "$LS_PORT" && break
      if ! kill -0 "$LOCALSTRIPE_PID" 2>/dev/null; then
        echo "localstripe exited; see $LOCALSTRIPE_LOG" >&2
        LOCALSTRIPE_PID=""
        exit 1
      fi
      sleep 0.1
    done
    port_open "$LS_PORT" || { echo "localstripe did not start on port $LS_PORT" >&2; exit 1; }
  fi
fi

# --- issue 20: in the sandbox the webhook is on, so card 0259's dispute arrives as a signed event ---
# (unless STRIPE_WEBHOOK_SECRET is set, in the environment or .env). The sandbox's delivery task and
# localstripe's own payment events post to this server with that secret.
if [ "$SANDBOX" = "1" ]; then
  WEBHOOK_SET=$($PY manage.py shell -v 0 -c "from django.conf import settings as s; print(int(bool(s.STRIPE_WEBHOOK_SECRET)))")
  if [ "$WEBHOOK_SET" = "0" ]; then
    export STRIPE_WEBHOOK_SECRET=whsec_netcop_sandbox_local
    echo "== sandbox webhook on: STRIPE_WEBHOOK_SECRET=$STRIPE_WEBHOOK_SECRET (events posted to ${SITE_URL:-$CONFIGURED_SITE_URL})"
  fi
  if [ "$API_BASE" = "http://127.0.0.1:$LS_PORT" ] || [ "$API_BASE" = "http://localhost:$LS_PORT" ]; then
    $PY - "$API_BASE" "${SITE_URL:-$CONFIGURED_SITE_URL}/wallet/webhooks/stripe/" <<'EOF_HOOK' || echo "== could not register the webhook with localstripe (reconciliation still finds everything)"
import os, sys, urllib.parse, urllib.request
from decouple import config
secret = os.environ.get("STRIPE_WEBHOOK_SECRET") or config("STRIPE_WEBHOOK_SECRET", default="")
data = urllib.parse.urlencode({"url": sys.argv[2], "secret": secret}).encode()
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_config/webhooks/netcop", data=data), timeout=5)
EOF_HOOK
  fi
fi

$PY manage.py migrate --noinput
$PY manage.py seed_demo

# Background work: one worker for queued agent runs, emails and chores, and the scheduler that
# enqueues the chores (top-up reconciliation, agent-run sweep). Their output goes to this terminal.
case "$TASKS_BACKEND" in
  db)
    $PY manage.py db_worker --queue-name '*' --no-reload &
    WORKER_PID=$!
    echo "== task worker started: manage.py db_worker (database backend), pid $WORKER_PID; stops with the server" ;;
  rq)
    $PY manage.py rqworker default agents --with-scheduler --job-class django_tasks_rq.Job &
    WORKER_PID=$!
    echo "== task worker started: manage.py rqworker (RQ on Redis), pid $WORKER_PID; stops with the server" ;;
  *)
    echo "== TASKS_BACKEND=$TASKS_BACKEND: no worker started (tasks run inside the request)" ;;
esac
if [ "$TASKS_BACKEND" != "immediate" ]; then
  $PY manage.py run_scheduler &
  SCHEDULER_PID=$!
  echo "== scheduler started: manage.py run_scheduler, pid $SCHEDULER_PID (reconciles top-ups, sweeps agent runs)"
fi

echo "== email links go to ${SITE_URL:-$CONFIGURED_SITE_URL} (SITE_URL)"
echo "== NetCop Wallet on http://$HOST:$PORT/  (Ctrl-C stops it, the worker and the scheduler$( [ -n "$LOCALSTRIPE_PID" ] && echo " and localstripe"))"
# Not exec: this shell stays to stop the worker, the scheduler and localstripe when the server exits.
$PY manage.py runserver "$HOST:$PORT"
