#!/bin/sh
# System packages Echoes needs beyond Python (Debian/Ubuntu, apt-get; through sudo when not root):
# - bsdtar (libarchive-tools) and unar unpack UCF101.rar; neither reads every RAR flavour, so
#   Echoes tries one, then the other;
# - slurm-wlm and munge let the tests run the workflow through a private one-node SLURM.
# Does nothing when every tool is already installed.
set -eu
if command -v bsdtar && command -v unar && command -v slurmctld && command -v munged; then
    exit 0
fi >/dev/null
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libarchive-tools unar slurm-wlm munge >/dev/null
