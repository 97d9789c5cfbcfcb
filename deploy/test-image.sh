#!/bin/sh
# deploy/test-image.sh — builds the container image, starts it, and runs the conformance suite
# (fixtures/profiles/obie.toml, the sandbox's own profile) against it over HTTP.
#
# Where the container runtime can run containers, the image itself is started (non-root, the
# database on a volume). Where it cannot (inside some sandboxes `podman run` fails with
# "crun: setrlimit ... Operation not permitted"), the script says so and runs the image's own
# files instead: it exports the image (`save`), unpacks its layers into a directory and starts
# the same binary there with chroot as the image's user (uid 10001), with /data as the volume.
set -eu
cd "$(dirname "$0")/.."
engine=${ENGINE:-$(command -v podman || command -v docker || true)}
[ -n "$engine" ] || { echo "error: neither podman nor docker found (set ENGINE)" >&2; exit 2; }
tag=obevents:test
port=${PORT:-18080}
base=http://127.0.0.1:$port
work=$(mktemp -d)
pid=
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    "$engine" rm -f obevents-image-test >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

sh deploy/build-image.sh "$tag"
echo "image: user, entrypoint, volumes, size:"
"$engine" image inspect --format '{{.Config.User}} {{.Config.Entrypoint}} {{.Config.Volumes}} {{.Size}}' "$tag"

wait_ready() {
    i=0
    until curl -fsS "$base/healthz" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -lt 100 ] || { echo "error: the sandbox did not answer $base/healthz within 10 s" >&2; exit 1; }
        sleep 0.1
    done
}

if "$engine" run -d --name obevents-image-test -p "127.0.0.1:$port:8080" \
    -v "$PWD/fixtures/profiles/sandbox.toml:/etc/obevents/test.toml:ro" \
    -e "OBEVENTS_PUBLIC_URL=$base" "$tag" \
    --config /etc/obevents/test.toml --addr 0.0.0.0:8080 --db /data/obevents.db 2>"$work/run.err"; then
    mode="the image, run by $engine"
    wait_ready
else
    echo "note: $engine cannot run containers here: $(tail -n 1 "$work/run.err")"
    echo "note: running the image's own files under chroot as uid 10001 instead"
    mode="the image's files under chroot"
    mkdir "$work/archive" "$work/root"
    "$engine" save --format docker-archive --output "$work/image.tar" "$tag"
    tar -xf "$work/image.tar" -C "$work/archive"
    # manifest.json lists the layers bottom-up; unpack them in that order.
    for layer in $(grep -o '"Layers":\[[^]]*\]' "$work/archive/manifest.json" | grep -o '[^",[]*\.tar'); do
        tar -xpf "$work/archive/$layer" -C "$work/root"
    done
    cp fixtures/profiles/sandbox.toml "$work/root/tmp/test.toml"
    chmod 0644 "$work/root/tmp/test.toml"
    env -i PATH="$PATH" OBEVENTS_LOG=warn chroot --userspec=10001:10001 "$work/root" \
        /usr/local/bin/obevents sandbox --config /tmp/test.toml \
        --addr "127.0.0.1:$port" --db /data/obevents.db >"$work/sandbox.out" 2>&1 &
    pid=$!
    wait_ready
    uid=$(ps -o uid= -p "$pid" | tr -d ' ')
    # chroot execs the sandbox in place, so the pid is the sandbox's own.
    [ "$uid" = 10001 ] || { echo "error: the sandbox runs as uid $uid, not 10001" >&2; exit 1; }
    [ "$(stat -c %u "$work/root/data/obevents.db")" = 10001 ] ||
        { echo "error: /data/obevents.db is not owned by uid 10001" >&2; exit 1; }
    echo "running as uid $uid; database /data/obevents.db on the volume directory"
fi

echo "running the conformance suite against $mode at $base"
target/release/obevents test --profile fixtures/profiles/obie.toml --base-url "$base" \
    --report-dir "$work/reports"
