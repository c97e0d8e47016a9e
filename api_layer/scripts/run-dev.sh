#!/usr/bin/env bash
# make run-dev: the Databricks emulator and the API in local mode, both on 127.0.0.1, stopped together.
#   EMULATOR_PORT (8765), EMULATOR_TOKEN (dapi-emulator), API_PORT (8000); DBRX_API_* variables override the JSON
#   configuration as usual (e.g. DBRX_API_AUTH__MODE=entra with tenant/audience/JWKS settings).
#   EMULATOR_CONTROL_TOKEN: bearer token of the emulator's control plane /_emulator/* (docs/EMULATOR.md §10), random
#   when unset: `GET /_emulator/state` shows recipients' activation links and tokens, so it is never left open.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.venv/bin"
EMULATOR_PORT="${EMULATOR_PORT:-8765}"
EMULATOR_TOKEN="${EMULATOR_TOKEN:-dapi-emulator}"
API_PORT="${API_PORT:-8000}"
if [ -z "${EMULATOR_CONTROL_TOKEN:-}" ]; then
  EMULATOR_CONTROL_TOKEN="$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))')"
fi
EMULATOR_URL="http://127.0.0.1:${EMULATOR_PORT}"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

"$BIN/dbrx-emulator" --host 127.0.0.1 --port "$EMULATOR_PORT" --token "$EMULATOR_TOKEN" \
  --control-token "$EMULATOR_CONTROL_TOKEN" --clock real --seed-file default --step-ms "${EMULATOR_STEP_MS:-1000}" &
pids+=($!)

# The SDK retries a closed port for its whole budget: wait until the emulator answers (bounded).
for _ in $(seq 1 100); do
  if EMULATOR_CONTROL_TOKEN="$EMULATOR_CONTROL_TOKEN" "$BIN/python" -c "import os, urllib.request; urllib.request.urlopen(urllib.request.Request('${EMULATOR_URL}/_emulator/health', headers={'Authorization': 'Bearer ' + os.environ['EMULATOR_CONTROL_TOKEN']}), timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

export DBRX_API_ENVIRONMENT="${DBRX_API_ENVIRONMENT:-local}"
export DBRX_API_DATABRICKS__AUTH__TOKEN="${DBRX_API_DATABRICKS__AUTH__TOKEN:-$EMULATOR_TOKEN}"
if [ "$EMULATOR_PORT" != "8765" ] && [ -z "${DBRX_API_DATABRICKS__WORKSPACES:-}" ]; then
  export DBRX_API_DATABRICKS__WORKSPACES="[{\"url\": \"${EMULATOR_URL}\", \"name\": \"emulator\", \"region\": \"EMEA\"}]"
fi

# The sample pack aimed at this emulator's port (the template in sharepack_templates/ names the default 8765).
SAMPLE_PACK="$PWD/.local/sharepack_local_emulator.yaml"
mkdir -p .local
sed "s#http://127\.0\.0\.1:8765#${EMULATOR_URL}#g" sharepack_templates/sharepack_local_emulator.yaml >"$SAMPLE_PACK"

echo "emulator: ${EMULATOR_URL}   (token ${EMULATOR_TOKEN}; workspace URL for X-Workspace-URL)"
echo "sample:   ${SAMPLE_PACK}   (share pack for this emulator: upload it in Swagger UI)"
echo "control:  ${EMULATOR_URL}/_emulator/...   (bearer token required; from another terminal:)"
echo "          export EMULATOR_CONTROL_TOKEN=${EMULATOR_CONTROL_TOKEN}"
echo "          curl -H \"Authorization: Bearer \$EMULATOR_CONTROL_TOKEN\" ${EMULATOR_URL}/_emulator/state"
echo "API:      http://127.0.0.1:${API_PORT}/   (Swagger UI; Ctrl-C stops both)"
"$BIN/uvicorn" dbrx_api.main:create_app --factory --host 127.0.0.1 --port "$API_PORT" --no-access-log &
pids+=($!)

# Stop both as soon as either exits.
wait -n "${pids[@]}"
