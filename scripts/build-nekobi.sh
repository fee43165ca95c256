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
# Needs root (or sudo) only for the apt steps, and only when something is missing:
#   deb-src in /etc/apt/sources.list.d/debian.sources, the packages dpf-source g++ make pkg-config xz-utils.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${SYNTHMATCH_VST3_DIR:-$REPO_DIR/.cache/vst3}
TARBALL_DIR=$REPO_DIR/.cache/dpf-plugins
SOURCES_FILE=/etc/apt/sources.list.d/debian.sources
BUILD_PACKAGES=(dpf-source g++ make pkg-config xz-utils)
DPF_PATH=/usr/share/dpf

say() { echo "build-nekobi: $*"; }
die() { echo "build-nekobi: error: $*" >&2; exit 1; }

usage() {
    sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
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

apt_updated=no
apt_update_once() {
    if [[ $apt_updated == no ]]; then
        say "apt-get update"
        as_root apt-get update -q
        apt_updated=yes
    fi
}

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
    apt_update_once
    say "installing: $missing"
    # shellcheck disable=SC2086  # one word per package
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
}

deb_src_enabled() {
    grep -Eqs '^[[:space:]]*Types:.*deb-src' "$SOURCES_FILE" /etc/apt/sources.list.d/*.sources \
        || grep -Eqs '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list
}

enable_deb_src() {
    if deb_src_enabled; then
        say "deb-src already enabled"
        return
    fi
    [[ -f $SOURCES_FILE ]] || die "no deb-src entries and no $SOURCES_FILE to add them to;" \
        "add a 'deb-src' line for bookworm to /etc/apt/sources.list and run this script again"
    say "enabling deb-src in $SOURCES_FILE (Types: deb -> Types: deb deb-src)"
    as_root sed -i -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb deb-src/' "$SOURCES_FILE"
    deb_src_enabled || die "could not enable deb-src in $SOURCES_FILE; make its 'Types: deb' lines read" \
        "'Types: deb deb-src' and run this script again"
    apt_updated=no
}

# Find or download the upstream tarball of dpf-plugins (dpf-plugins_*.orig.tar.*) into TARBALL_DIR; sets TARBALL.
fetch_tarball() {
    TARBALL=$(compgen -G "$TARBALL_DIR/dpf-plugins_*.orig.tar.*" | head -n 1 || true)
    if [[ -n $TARBALL ]]; then
        say "source tarball cached: $TARBALL"
        return
    fi
    enable_deb_src
    apt_update_once
    mkdir -p "$TARBALL_DIR"
    say "apt-get source --download-only dpf-plugins (about 57 MB) into $TARBALL_DIR"
    # The Debian diff may answer 404; only the .orig tarball matters, so judge by what arrived.
    (cd "$TARBALL_DIR" && apt-get source --download-only -q dpf-plugins) \
        || say "apt-get source reported an error (a 404 on the Debian diff is harmless); checking for the .orig tarball"
    TARBALL=$(compgen -G "$TARBALL_DIR/dpf-plugins_*.orig.tar.*" | head -n 1 || true)
    [[ -n $TARBALL ]] || die "apt-get source did not fetch dpf-plugins_*.orig.tar.* into $TARBALL_DIR;" \
        "check that deb.debian.org is reachable and that 'apt-get source dpf-plugins' works"
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
