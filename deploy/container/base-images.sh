#!/usr/bin/env bash
# Makes the Containerfile's two base images from Debian packages, for machines that cannot pull from
# a registry. Each is made once and kept in podman's image store; an existing image is reused.
#   localhost/wmg-swift-builder:SWIFT  bookworm minbase, the packages a Swift build needs, librabbitmq-dev,
#                                      and a copy of the toolchain installed here (same path)
#   localhost/wmg-runtime:bookworm     bookworm minbase with librabbitmq4, ca-certificates, tzdata
# The last line printed is "BUILDER RUNTIME". First run: about 5 minutes and 5 GB; then seconds.
#
#   deploy/container/base-images.sh
#
# Environment: WMG_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

mirror=${WMG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
say() { echo "base-images: $*" >&2; }

swift_bin=$(readlink -f "$(command -v swift)")
toolchain=$(dirname "$(dirname "$(dirname "$swift_bin")")")
swift_version=$(swift --version 2>/dev/null | sed -n 's/.*Swift version \([0-9.]*\).*/\1/p' | head -n 1)
[ -n "$swift_version" ] || { say "cannot tell the installed Swift version (swift --version)"; exit 1; }
builder=localhost/wmg-swift-builder:$swift_version
runtime=localhost/wmg-runtime:bookworm

# make_image IMAGE PACKAGES PATH [EXTRA...]: a bookworm minbase root with the packages and copies of the
# EXTRA folders (same paths), imported as IMAGE with PATH as its search path.
make_image() {
  local image=$1 packages=$2 search_path=$3
  shift 3
  if podman image exists "$image"; then return 0; fi
  local dir
  dir=$(mktemp -d /var/tmp/wmg-base.XXXXXX)
  say "making $image from Debian packages ($mirror)"
  if ! debootstrap --variant=minbase --include="$packages" bookworm "$dir" "$mirror" >"$dir.log" 2>&1; then
    say "cannot make $image: debootstrap from $mirror failed ($(tail -n 1 "$dir.log"))"
    rm -rf "$dir" "$dir.log"
    return 1
  fi
  for extra in "$@"; do
    say "copying $extra into $image"
    mkdir -p "$dir$(dirname "$extra")"
    cp -a "$extra" "$dir$extra"
  done
  # An image's apt lists are fetched by its own builds; the ones debootstrap used only take space.
  rm -rf "$dir/var/lib/apt/lists/"* "$dir/var/cache/apt/archives/"*.deb
  tar -C "$dir" -c . | podman import -q --change "ENV PATH=$search_path" --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
  rm -rf "$dir" "$dir.log"
  say "made $image"
}

system_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
make_image "$runtime" librabbitmq4,ca-certificates,tzdata "$system_path"
make_image "$builder" \
  binutils,git,libc6-dev,libcurl4-openssl-dev,libedit2,libgcc-12-dev,libpython3-dev,libsqlite3-0,libstdc++-12-dev,libxml2-dev,libz3-dev,pkg-config,tzdata,zlib1g-dev,librabbitmq-dev,ca-certificates,libncurses6 \
  "$(dirname "$swift_bin"):$system_path" "$toolchain"
echo "$builder $runtime"
