#!/bin/sh
# deps.sh - installs the Debian packages trainfs needs to build and test,
# only those missing. Run as root, or with sudo available. Usage:
#   tools/deps.sh build|test|demo
set -eu
need="gcc make pkg-config libfuse3-dev fuse3 libcurl4-openssl-dev libcjson-dev libsqlite3-dev libssl-dev python3 attr"
case "${1:-build}" in
test) need="$need procps psmisc nginx-light curl man-db groff-base" ;;
esac
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
