#!/bin/sh
# System packages Echoes needs beyond Python: bsdtar (libarchive-tools) and unar unpack UCF101.rar
# (neither reads every RAR flavour, so Echoes tries one, then the other). Debian/Ubuntu; uses sudo
# when not root and does nothing when both tools are already installed.
set -eu
command -v bsdtar >/dev/null && command -v unar >/dev/null && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libarchive-tools unar
