#!/usr/bin/env bash
# DeltaShare start command: Azure Web App (Linux, Python 3.12) startup command, and the same on any Linux host.
#
#   bash startup.sh [api|worker|all]            role defaults to $STARTUP_ROLE, else "api"
#
#   api     the HTTP API: python -m dbrx_api.serve (uvicorn with server.workers processes, bound to 0.0.0.0:$PORT
#           on App Service and to server.host:server.port elsewhere; graceful shutdown on SIGTERM)
#   worker  the share-pack queue worker: python -m dbrx_api.workflow.worker (docs/WORKFLOW.md §8; stops on SIGTERM)
#   all     both in one container: the API plus $STARTUP_WORKER_PROCESSES worker processes (default 1). SIGTERM and
#           SIGINT are forwarded to every child; if one child dies the others are stopped too, so the platform
#           restarts the container instead of running half of it.
#
# Configuration: the JSON files (config.json, apilayer_config.json, databricks_config.json) are read from
# $DBRX_API_CONFIG_DIR, by default the directory that holds config.json next to this script (deployment package)
# or above it (source tree). Secrets come from environment variables (App Service application settings or Key
# Vault references). Python: $PYTHON, else .venv/bin/python next to this script (source tree), else python3 on
# PATH (App Service activates the virtual environment its build created before running the start command).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ -z "${DBRX_API_CONFIG_DIR:-}" ]; then
  if [ -f "$here/config.json" ]; then
    export DBRX_API_CONFIG_DIR="$here"
  elif [ -f "$here/../config.json" ]; then
    DBRX_API_CONFIG_DIR=$(cd "$here/.." && pwd)
    export DBRX_API_CONFIG_DIR
  fi
fi

python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x "$here/.venv/bin/python" ]; then
    python="$here/.venv/bin/python"
  else
    python=$(command -v python3 || command -v python || true)
  fi
fi
if [ -z "$python" ]; then
  echo "startup.sh: no Python interpreter found (set PYTHON)" >&2
  exit 2
fi

role=${1:-${STARTUP_ROLE:-api}}
worker_module=${STARTUP_WORKER_MODULE:-dbrx_api.workflow.worker}
worker_processes=${STARTUP_WORKER_PROCESSES:-1}
export PYTHONUNBUFFERED=1

case "$role" in
  api)
    exec "$python" -m dbrx_api.serve
    ;;
  worker)
    exec "$python" -m "$worker_module"
    ;;
  all)
    if ! [[ "$worker_processes" =~ ^[1-9][0-9]*$ ]]; then
      echo "startup.sh: STARTUP_WORKER_PROCESSES must be a positive integer, got '$worker_processes'" >&2
      exit 2
    fi
    pids=()
    stopping=0
    stop_children() {
      stopping=1
      for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
      done
    }
    trap stop_children TERM INT
    "$python" -m dbrx_api.serve &
    pids+=("$!")
    for _ in $(seq "$worker_processes"); do
      "$python" -m "$worker_module" &
      pids+=("$!")
    done
    # Returns when the first child exits, or early when a trapped signal arrives.
    first_status=0
    wait -n || first_status=$?
    requested=$stopping
    if [ "$requested" -eq 0 ]; then
      echo "startup.sh: a child process exited (status $first_status); stopping the others" >&2
    fi
    stop_children
    final_status=0
    for pid in "${pids[@]}"; do
      status=0
      wait "$pid" || status=$?
      # 143 = ended by the SIGTERM we sent: uvicorn re-raises the signal after its graceful shutdown
      if [ "$status" -ne 0 ] && [ "$status" -ne 143 ]; then final_status=$status; fi
    done
    if [ "$requested" -eq 0 ]; then
      # A child that ends on its own is a failure even with status 0: half a container must not keep running.
      if [ "$first_status" -ne 0 ]; then exit "$first_status"; fi
      exit 1
    fi
    exit "$final_status"
    ;;
  *)
    echo "usage: startup.sh [api|worker|all]  (or set STARTUP_ROLE)" >&2
    exit 2
    ;;
esac
