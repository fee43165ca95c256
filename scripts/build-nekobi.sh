#!/usr/bin/env bash
# Build Nekobi (DPF's TB-303 clone) as a VST3 from Debian 12's own sources, for synthmatch's vst3 backend.
#
# Debian packages no VST3 instrument, so this compiles one from the dpf-plugins source package with the
# system's DPF (dpf-source). Idempotent: does nothing when the plugin is already built.
#
# Usage: scripts/build-nekobi.sh [--prefix DIR]
#   Output: DIR/Nekobi.vst3, where DIR is --prefix, else $SYNTHMATCH_VST3_DIR, else <repo>/.cache/vst3
#   (the first folder synthmatch's vst3 backend looks in, and git-ignored).
#   The downloaded source tarball is kept in <repo>/.cache/dpf-plugins so a rebuild does not fetch it again.
#   The source is fetched through a private deb-src list (<repo>/.cache/apt-source: its own lists and cache,
#   given to that apt-get only): the system's apt sources are left as they are. Mirror and release:
#   $SYNTHMATCH_DEBIAN_MIRROR (default http://deb.debian.org/debian) and /etc/os-release's codename.
# Needs root (or sudo) only to install missing packages: dpf-source g++ make pkg-config xz-utils; it waits
# up to 10 minutes for apt's lock if another apt holds it (unattended upgrades do after boot).
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${SYNTHMATCH_VST3_DIR:-$REPO_DIR/.cache/vst3}
TARBALL_DIR=$REPO_DIR/.cache/dpf-plugins
APT_SOURCE_DIR=$REPO_DIR/.cache/apt-source
MIRROR=${SYNTHMATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
BUILD_PACKAGES=(dpf-source g++ make pkg-config xz-utils)
DPF_PATH=/usr/share/dpf

say() { echo "build-nekobi: $*"; }
die() { echo "build-nekobi: error: $*" >&2; exit 1; }

usage() {
    sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --prefix)
            [[ $# -ge 2 && -n $2 ]] || die "--prefix needs a folder, e.g. --prefix ~/.vst3"
            PREFIX=$2; shift 2 ;;
        --prefix=*) PREFIX=${1#--prefix=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1'; usage: scripts/build-nekobi.sh [--prefix DIR]" ;;
    esac
done
PREFIX=$(realpath -m "$PREFIX")
BUNDLE=$PREFIX/Nekobi.vst3

plugin_binary() { compgen -G "$BUNDLE/Contents/*-linux/Nekobi.so" | head -n 1; }

if [[ -n $(plugin_binary) ]]; then
    say "already built: $(plugin_binary) (delete $BUNDLE to rebuild)"
    exit 0
fi

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "'$*' needs root; run this script as root or install sudo"
    fi
}

# The system's apt-get, waiting for its lock when another apt holds it.
APT_GET=(apt-get -q -o DPkg::Lock::Timeout=600)

missing_packages() {
    local pkg
    for pkg in "${BUILD_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

install_build_packages() {
    local missing
    missing=$(missing_packages)
    if [[ -z $missing ]]; then
        say "build packages present: ${BUILD_PACKAGES[*]}"
        return
    fi
    say "apt-get update, then installing: $missing (waiting up to 10 minutes if another apt holds its lock)"
    as_root "${APT_GET[@]}" update
    # shellcheck disable=SC2086  # one word per package
    as_root env DEBIAN_FRONTEND=noninteractive "${APT_GET[@]}" install -y --no-install-recommends $missing
}

# apt-get with a private sources list (one deb-src line), lists and cache in APT_SOURCE_DIR: needs no root and
# leaves the system's apt configuration and state alone.
private_apt_get() {
    apt-get -q -o Dir::Etc::sourcelist="$APT_SOURCE_DIR/sources.list" \
        -o Dir::Etc::sourceparts="$APT_SOURCE_DIR/sources.list.d" -o Dir::State::lists="$APT_SOURCE_DIR/lists" \
        -o Dir::Cache="$APT_SOURCE_DIR/cache" -o APT::Sandbox::User="$(id -un)" "$@"
}

write_private_sources() {
    local codename signed_by=""
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    [[ -f $KEYRING ]] && signed_by="[signed-by=$KEYRING] "
    mkdir -p "$APT_SOURCE_DIR/sources.list.d" "$APT_SOURCE_DIR/lists/partial" "$APT_SOURCE_DIR/cache/archives/partial"
    echo "deb-src $signed_by$MIRROR $codename main" > "$APT_SOURCE_DIR/sources.list"
    say "private source list in $APT_SOURCE_DIR: deb-src $MIRROR $codename main (the system's sources are untouched)"
}

# Find or download the upstream tarball of dpf-plugins (dpf-plugins_*.orig.tar.*) into TARBALL_DIR; sets TARBALL.
fetch_tarball() {
    TARBALL=$(compgen -G "$TARBALL_DIR/dpf-plugins_*.orig.tar.*" | head -n 1 || true)
    if [[ -n $TARBALL ]]; then
        say "source tarball cached: $TARBALL"
        return
    fi
    write_private_sources
    private_apt_get update || die "apt-get update of the private source list failed; check that $MIRROR is reachable"
    mkdir -p "$TARBALL_DIR"
    say "apt-get source --download-only dpf-plugins (about 57 MB) into $TARBALL_DIR"
    # The Debian diff may answer 404; only the .orig tarball matters, so judge by what arrived.
    (cd "$TARBALL_DIR" && private_apt_get source --download-only dpf-plugins) \
        || say "apt-get source reported an error (a 404 on the Debian diff is harmless); checking for the .orig tarball"
    TARBALL=$(compgen -G "$TARBALL_DIR/dpf-plugins_*.orig.tar.*" | head -n 1 || true)
    [[ -n $TARBALL ]] || die "apt-get source did not fetch dpf-plugins_*.orig.tar.* into $TARBALL_DIR;" \
        "check that $MIRROR is reachable and carries dpf-plugins"
}

build() {
    local tarball=$1 plugin_dir
    WORK_DIR=$(mktemp -d -t build-nekobi.XXXXXX)
    trap 'rm -rf "$WORK_DIR"' EXIT
    say "unpacking plugins/Nekobi from $(basename "$tarball") into $WORK_DIR"
    tar -xf "$tarball" -C "$WORK_DIR" --wildcards '*/plugins/Nekobi/*'
    plugin_dir=$(compgen -G "$WORK_DIR/*/plugins/Nekobi" | head -n 1 || true)
    [[ -n $plugin_dir ]] || die "$tarball has no plugins/Nekobi; is it the dpf-plugins source?"

    say "setting DISTRHO_PLUGIN_HAS_UI 0 (a headless build: no X11/OpenGL needed)"
    sed -i -E 's/^(#define[[:space:]]+DISTRHO_PLUGIN_HAS_UI[[:space:]]+)1/\10/' "$plugin_dir/DistrhoPluginInfo.h"
    grep -Eq '^#define[[:space:]]+DISTRHO_PLUGIN_HAS_UI[[:space:]]+0' "$plugin_dir/DistrhoPluginInfo.h" \
        || die "could not set DISTRHO_PLUGIN_HAS_UI to 0 in $plugin_dir/DistrhoPluginInfo.h"

    cat > "$plugin_dir/Makefile" <<EOF
NAME = Nekobi
FILES_DSP = DistrhoPluginNekobi.cpp
DPF_PATH = $DPF_PATH
include \$(DPF_PATH)/Makefile.plugins.mk
all: vst3
EOF
    mkdir -p "$PREFIX"
    say "make vst3 -> $BUNDLE"
    make -C "$plugin_dir" -j "$(nproc)" DPF_TARGET_DIR="$PREFIX" DPF_BUILD_DIR="$WORK_DIR/build" vst3
}

install_build_packages
[[ -f $DPF_PATH/Makefile.plugins.mk ]] || die "$DPF_PATH/Makefile.plugins.mk is missing; reinstall dpf-source"
fetch_tarball
build "$TARBALL"
[[ -n $(plugin_binary) ]] || die "make finished but no $BUNDLE/Contents/*-linux/Nekobi.so was made"
say "built $(plugin_binary)"
