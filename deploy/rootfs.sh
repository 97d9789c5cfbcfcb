#!/bin/sh
# deploy/rootfs.sh BINARY DIR — lays out the container image's root filesystem in DIR/rootfs
# (owned by root) and DIR/data (the database volume, owned by uid 10001 in the image):
#   /usr/local/bin/obevents, the shared libraries ldd lists for it (with the dynamic loader)
#   at the same paths, CA certificates for HTTPS pushes, passwd/group entries for the
#   unprivileged user, nsswitch.conf, /tmp and the default config.
set -eu
bin=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$out/rootfs
rm -rf "$root" "$out/data"
mkdir -p "$root/usr/local/bin" "$root/etc/obevents" "$root/etc/ssl/certs" "$root/tmp" "$out/data"
chmod 1777 "$root/tmp"
install -m 0755 "$bin" "$root/usr/local/bin/obevents"
# Every library the binary needs, resolved (cp -L) to a regular file at the path ldd names.
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r lib; do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
else
    echo "warning: no /etc/ssl/certs/ca-certificates.crt; HTTPS pushes will not verify" >&2
fi
printf 'root:x:0:0:root:/:/sbin/nologin\nobevents:x:10001:10001:obevents:/data:/sbin/nologin\n' \
    > "$root/etc/passwd"
printf 'root:x:0:\nobevents:x:10001:\n' > "$root/etc/group"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
cp "$here/container/sandbox.toml" "$root/etc/obevents/sandbox.toml"
cp "$here/container/Containerfile" "$out/Containerfile"
