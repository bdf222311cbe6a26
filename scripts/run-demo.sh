#!/usr/bin/env bash
# The demo behind `make run`: the local issuer on 127.0.0.1:8081, the echo upstream on
# :8082 and Envoy with the top-level envoy.yaml on :10000 (admin :9901). Prints curl lines
# with freshly minted tokens, tries each once, then stays up until Ctrl-C.
# Expects `make build` and `cargo build -p testbed --bins` to have run (make run does both).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

ENVOY="${ENVOY_BIN:-$ROOT/.tools/envoy/envoy/_bin/envoy}"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
ISSUER="$BIN/local-issuer"
ECHO="$BIN/echo-upstream"
MODULE="$ROOT/dist/auth0_wasm_filter.wasm"
LOGS="$ROOT/.run"
API=http://127.0.0.1:10000

for file in "$ENVOY" "$ISSUER" "$ECHO" "$MODULE"; do
    if [[ ! -e "$file" ]]; then
        echo "run-demo: $file is missing; use \`make run\`, which builds everything first" >&2
        exit 1
    fi
done

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 8081 8082 10000 9901; do
    if port_in_use "$port"; then
        echo "run-demo: 127.0.0.1:$port is already in use (an earlier demo still running?)" >&2
        exit 1
    fi
done

pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    echo
    echo "demo stopped (logs in .run/)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for DESCRIPTION PID COMMAND...
    local what="$1" pid="$2"
    shift 2
    for _ in $(seq 1 300); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "run-demo: $what exited; its log:" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "run-demo: $what did not come up within 30 s" >&2
    return 1
}

mkdir -p "$LOGS"
"$ISSUER" serve --port 8081 >"$LOGS/issuer.log" 2>&1 &
pids+=($!)
wait_for "the local issuer" "${pids[-1]}" port_in_use 8081 || { cat "$LOGS/issuer.log" >&2; exit 1; }
"$ECHO" --port 8082 >"$LOGS/echo.log" 2>&1 &
pids+=($!)
wait_for "the echo upstream" "${pids[-1]}" port_in_use 8082 || { cat "$LOGS/echo.log" >&2; exit 1; }
"$ENVOY" -c envoy.yaml --concurrency 1 --disable-hot-restart --component-log-level wasm:debug \
    >"$LOGS/envoy.log" 2>&1 &
pids+=($!)
envoy_live() { [[ "$(curl -s http://127.0.0.1:9901/ready)" == LIVE* ]] && port_in_use 10000; }
wait_for "Envoy" "${pids[-1]}" envoy_live || { tail -n 40 "$LOGS/envoy.log" >&2; exit 1; }

TOKEN="$("$ISSUER" token --sub user_123)"
MESSAGES_TOKEN="$("$ISSUER" token --sub user_123 --scope read:messages)"
DATA_TOKEN="$("$ISSUER" token --sub user_123 --scope 'read:data write:data')"
DPOP_TOKEN="$("$ISSUER" dpop-token --sub user_123)"

# Each line: expected status, what it shows, the curl arguments as the user would type them.
checks=(
    "200|public route, no token|$API/api/public"
    "401|no token|$API/api/private"
    "200|any valid token (the echo shows x-auth-sub and x-auth-scope)|-H \"Authorization: Bearer \$TOKEN\" $API/api/private"
    "403|token without read:messages|-H \"Authorization: Bearer \$TOKEN\" $API/api/messages"
    "200|token with read:messages|-H \"Authorization: Bearer \$MESSAGES_TOKEN\" $API/api/messages"
    "200|POST with read:data and write:data|-X POST -H \"Authorization: Bearer \$DATA_TOKEN\" $API/api/data"
    "200|DPoP-bound token with a fresh proof (a proof works once)|-H \"Authorization: DPoP \$DPOP_TOKEN\" -H \"DPoP: \$($ISSUER proof --htm GET --htu $API/api/private --token \$DPOP_TOKEN)\" $API/api/private"
)

cat <<EOF

auth0-wasm-filter demo is running:
  Envoy        $API   (admin http://127.0.0.1:9901, config envoy.yaml)
  local issuer http://127.0.0.1:8081   (https://issuer.local/, audience https://api.example.com)
  echo upstream http://127.0.0.1:8082  (answers with the request it received)
  logs         .run/envoy.log .run/issuer.log .run/echo.log

Tokens (valid for an hour; mint more with $ISSUER token --scope '...'):

TOKEN='$TOKEN'
MESSAGES_TOKEN='$MESSAGES_TOKEN'
DATA_TOKEN='$DATA_TOKEN'
DPOP_TOKEN='$DPOP_TOKEN'

Try (paste the four lines above first):

EOF
for check in "${checks[@]}"; do
    IFS='|' read -r expected what args <<<"$check"
    printf '  # %s: %s\n  curl -i %s\n\n' "$expected" "$what" "$args"
done

echo "Checking each once now:"
failures=0
for check in "${checks[@]}"; do
    IFS='|' read -r expected what args <<<"$check"
    status="$(eval "curl -s -o /dev/null -w '%{http_code}' $args" || true)"
    if [[ "$status" == "$expected" ]]; then
        mark=ok
    else
        mark="UNEXPECTED"
        failures=$((failures + 1))
    fi
    printf '  %-10s %s (expected %s): %s\n' "$mark" "$status" "$expected" "$what"
done
if ((failures)); then
    echo "  $failures check(s) did not answer as expected; see .run/envoy.log"
fi

echo
echo "Press Ctrl-C to stop."
# Polling rather than `wait -n`: Envoy exits 0 on the same Ctrl-C that stops this script,
# and the trap must win that race.
while true; do
    for pid in "${pids[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "run-demo: a process exited unexpectedly; see .run/" >&2
            exit 1
        fi
    done
    sleep 1
done
