#!/usr/bin/env bash
# Start the code-location image's `dagster code-server` (buildah run, host network) and load the code location
# from it over gRPC as Dagster's webserver/daemon would (a workspace with a grpc_server entry); then stop it.
#
# Usage: deployments/images/check_code_image.sh [image-name] [port]
set -euo pipefail
source "$(dirname "$0")/buildah_env.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
image=${1:-localhost/finpulse-code:latest}
port=${2:-4266}
dagster=${DAGSTER_BIN:-$root/.venv/bin/dagster}
work=$(mktemp -d /var/tmp/finpulse-code-check.XXXXXX)
ctr=$(buildah from --pull=never "$image")
stop() {
    [[ -n ${server:-} ]] && { kill -TERM -- "-$server" 2>/dev/null || true; sleep 2; kill -KILL -- "-$server" 2>/dev/null || true; }
    buildah rm "$ctr" >/dev/null; rm -rf "$work"
}
trap stop EXIT
# The image's CMD with a loopback address: `buildah run` takes the command line explicitly.
setsid buildah run --isolation chroot --network host "$ctr" -- \
    dagster code-server start -m finpulse_assets.definitions -h 127.0.0.1 -p "$port" >"$work/server.log" 2>&1 &
server=$!
started=$(date +%s)
until "$dagster" api grpc-health-check -p "$port" >/dev/null 2>&1; do
    if ! kill -0 "$server" 2>/dev/null || (( $(date +%s) - started > 300 )); then
        echo "the code server in $image never answered on :$port" >&2; tail -20 "$work/server.log" >&2; exit 1
    fi
    sleep 2
done
echo "code server in $image healthy after $(( $(date +%s) - started )) s"
printf 'load_from:\n  - grpc_server: {host: 127.0.0.1, port: %s, location_name: finpulse}\n' "$port" >"$work/workspace.yaml"
printf 'telemetry:\n  enabled: false\n' >"$work/dagster.yaml"
jobs=$(cd "$work" && DAGSTER_HOME=$work "$dagster" job list -w workspace.yaml 2>/dev/null | grep -c '^Job: ' || true)
(( jobs > 0 )) || { echo "no jobs loaded from the code server in $image" >&2; exit 1; }
echo "loaded the finpulse code location from $image over gRPC: $jobs jobs"
