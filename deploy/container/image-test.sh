#!/usr/bin/env bash
# Builds the image from deploy/container/Containerfile and runs it as a user would: against a broker
# (WMG_TEST_AMQP_URL, default the test broker on 127.0.0.1:5673) and the OIFDE simulator over HTTPS.
# Checks: --version names this checkout's revision, --version --verbose lists the resolved packages,
# the HEALTHCHECK passes, five commands come back with their result events, SIGTERM drains and exits 0.
# Where no registry can be pulled from, the base images are made from Debian packages
# (base-images.sh, cached). Part of the test command (deploy/local/test.sh); also runs alone:
#
#   WMG_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2f deploy/container/image-test.sh
#
# Environment: WMG_IMAGE_BUILDER / WMG_IMAGE_RUNTIME (base images; default: made here),
# WMG_IMAGE_BIN (a host-built workmode-gateway for the simulator and publisher; default .build/debug).
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { echo "image-test: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "cannot install ${missing[*]} from Debian's mirror"
fi
# crun (podman's default) refuses hybrid cgroups, and podman's default rlimits are refused here.
podman=(podman --runtime runc)
limits=(--ulimit nofile=20000:20000 --ulimit nproc=4000:4000)

bin=${WMG_IMAGE_BIN:-$PWD/.build/debug/workmode-gateway}
[ -x "$bin" ] || fail "$bin is missing: build first (swift build)"
amqp_url=${WMG_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5673/%2f}

if [ -n "${WMG_IMAGE_BUILDER:-}" ] && [ -n "${WMG_IMAGE_RUNTIME:-}" ]; then
  builder=$WMG_IMAGE_BUILDER runtime=$WMG_IMAGE_RUNTIME
else
  images=$(bash deploy/container/base-images.sh | tail -n 1) || fail "the base images could not be made (see the line above)"
  read -r builder runtime <<<"$images"
fi

# Package resolution inside the build: where git reads GitHub from local copies (url.*.insteadOf in
# the system git configuration), the copies and that configuration are mounted read-only.
mounts=()
system_gitconfig=$(git config --system --list --show-origin 2>/dev/null | head -n 1 | sed -n 's/^file:\([^[:space:]]*\).*/\1/p')
if [ -n "$system_gitconfig" ]; then
  mounts+=(-v "$system_gitconfig:$system_gitconfig:ro")
  while read -r copies; do
    [ -d "$copies" ] && mounts+=(-v "$copies:$copies:ro")
  done < <(git config --system --get-regexp '^url\..*\.insteadof$' | sed -n 's/^url\.\(.*\)\.insteadof .*/\1/p' | sort -u)
fi

revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
image=localhost/workmode-gateway:test
started=$(date +%s)
say "building $image (revision $revision) on $builder / $runtime"
build_log=$(mktemp)
if ! "${podman[@]}" build --format docker --network host "${limits[@]}" "${mounts[@]}" \
  -f deploy/container/Containerfile \
  --build-arg BUILDER_IMAGE="$builder" --build-arg RUNTIME_IMAGE="$runtime" \
  --build-arg REVISION="$revision" --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$image" . >"$build_log" 2>&1; then
  tail -n 30 "$build_log" >&2
  fail "podman build failed (log above)"
fi
say "built in $(($(date +%s) - started)) s; $("${podman[@]}" image inspect "$image" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"

# No health timer: podman would start it through systemd, which a CI machine may not run; the test
# runs the image's HEALTHCHECK itself with `podman healthcheck run`.
run() { "${podman[@]}" run --rm --network host --no-healthcheck "${limits[@]}" "$@"; }
version=$(run "$image" --version)
[[ "$version" == *"commit $revision"* ]] || fail "--version says '$version', not revision $revision"
verbose=$(run "$image" --version --verbose)
grep -q '^  swift-nio ' <<<"$verbose" || fail "--version --verbose lists no packages: $verbose"
# Read whole, then searched: `grep -q` in a pipe would end the reader early (SIGPIPE under pipefail).
dependencies=$(run --entrypoint /bin/cat "$image" /usr/share/workmode-gateway/dependencies.json)
grep -q '"swift-nio"' <<<"$dependencies" || fail "the image has no /usr/share/workmode-gateway/dependencies.json naming swift-nio"
manual=$(run --entrypoint /bin/sh "$image" -c 'gzip -dc /usr/share/man/man1/workmode-gateway.1.gz')
grep -q '^\.Dt WORKMODE-GATEWAY 1' <<<"$manual" && grep -q 'dead-letters' <<<"$manual" \
  || fail "the image has no man page /usr/share/man/man1/workmode-gateway.1.gz describing the subcommands"
labels=$("${podman[@]}" image inspect "$image" --format '{{index .Labels "org.opencontainers.image.revision"}}')
[ "$labels" = "$revision" ] || fail "label org.opencontainers.image.revision is '$labels', not $revision"
user=$(run --entrypoint /usr/bin/id "$image" -u)
[ "$user" != 0 ] || fail "the image runs as root"
say "--version: $version; packages listed; man page; labels and user $user ok"

work=$(mktemp -d /var/tmp/wmg-image-test.XXXXXX)
name=wmg-image-test-$$
sim_pid=
cleanup() {
  "${podman[@]}" rm -f "$name" >/dev/null 2>&1 || true
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  rm -rf "$work" "$build_log"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sim_port=$(free_port)
admin_port=$(free_port)
bash deploy/local/make-certs.sh "$work/tls" >/dev/null
tenant=202204247563
"$bin" simulate --listen "127.0.0.1:$sim_port" --tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key" \
  --tenant "$tenant:image-secret" --auto-sessions >"$work/simulator.log" 2>&1 &
sim_pid=$!

# The broker password comes from a file (amqp.passwordFile), as with systemd's LoadCredential=.
password=$(sed -n 's|^amqps\{0,1\}://[^:/@]*:\([^@]*\)@.*|\1|p' <<<"$amqp_url")
url_without_password=$(sed 's|^\(amqps\{0,1\}://[^:/@]*\):[^@]*@|\1@|' <<<"$amqp_url")
mkdir -p "$work/etc" "$work/secrets" "$work/state"
printf '%s\n' "${password:-guest}" >"$work/secrets/amqp-password"
printf 'image-secret' >"$work/secrets/tenant"
prefix=image-$$
topology="topology: {commandsExchange: $prefix.commands, commandsQueue: $prefix.commands, resultsExchange: $prefix.results, deadLetterExchange: $prefix.dead, deadLetterQueue: $prefix.dead}"
cat >"$work/etc/gateway.yaml" <<YAML
amqp: {url: "$url_without_password", passwordFile: /run/secrets/amqp-password}
$topology
oifde:
  baseURL: https://localhost:$sim_port
  tls: {caFile: /run/secrets/ca.pem}
  auth: {tenants: {"$tenant": {appSecretFile: /run/secrets/tenant}}}
admin: {listen: "127.0.0.1:$admin_port"}
shutdown: {drainTimeout: 10s}
YAML
cp "$work/tls/ca.pem" "$work/secrets/ca.pem"
chmod 0644 "$work/secrets/"* "$work/etc/gateway.yaml"
chown 10001:10001 "$work/state"

# config check inside the image, with the same files, before running it.
run -v "$work/etc:/etc/workmode-gateway:ro" -v "$work/secrets:/run/secrets:ro" "$image" \
  config check --config /etc/workmode-gateway/gateway.yaml --connect >"$work/check.log" 2>&1 \
  || { cat "$work/check.log" >&2; fail "config check --connect failed in the image"; }

"${podman[@]}" run -d --name "$name" --network host --health-interval disable "${limits[@]}" \
  -e WMG_CONFIG=/etc/workmode-gateway/gateway.yaml \
  -v "$work/etc:/etc/workmode-gateway:ro" -v "$work/secrets:/run/secrets:ro" -v "$work/state:/var/lib/workmode-gateway" \
  "$image" >/dev/null
healthy=
for _ in $(seq 120); do
  if "${podman[@]}" healthcheck run "$name" >/dev/null 2>&1; then healthy=1; break; fi
  "${podman[@]}" container exists "$name" || break
  sleep 0.5
done
[ -n "$healthy" ] || { "${podman[@]}" logs "$name" >&2 || true; fail "the HEALTHCHECK did not pass within 60 s"; }
say "HEALTHCHECK passes"

for i in 1 2 3 4 5; do
  printf '{"tenantId":"%s","callId":"image-call-%s","agentId":"1001","workMode":"2"}\n' "$tenant" "$i"
done >"$work/commands.jsonl"
printf 'amqp: {url: "%s"}\n%s\n' "$amqp_url" "$topology" >"$work/host.yaml"
"$bin" publish "$work/commands.jsonl" --config "$work/host.yaml" --wait-results --results-timeout 60s >"$work/publish.log" 2>&1 \
  || { cat "$work/publish.log" >&2; "${podman[@]}" logs "$name" >&2 || true; fail "publish --wait-results failed"; }
grep -q '^results: 5 succeeded$' "$work/publish.log" \
  || { cat "$work/publish.log" >&2; "${podman[@]}" logs "$name" >&2 || true; fail "not 5 succeeded results"; }
say "5 commands: 5 succeeded results"

stop_started=$(date +%s)
"${podman[@]}" stop -t 30 "$name" >/dev/null
status=$("${podman[@]}" inspect "$name" --format '{{.State.ExitCode}}')
"${podman[@]}" logs "$name" >"$work/gateway.log" 2>&1 || true
[ "$status" = 0 ] || { tail -n 20 "$work/gateway.log" >&2; fail "SIGTERM ended the container with status $status"; }
grep -Eq '"(stopped|drained: [^"]*)"' "$work/gateway.log" \
  || { tail -n 20 "$work/gateway.log" >&2; fail "no drain or stop line after SIGTERM"; }
say "SIGTERM: exit 0 in $(($(date +%s) - stop_started)) s"
say "ok: image $image ($revision) in $(($(date +%s) - started)) s"
