#!/usr/bin/env bash
# GUI tests need a display. pytest-xvfb starts a virtual one when the Xvfb program exists;
# install it here when we can (root with apt), or say what to install.
set -u
# Qt's xcb platform also needs libxcb-cursor and friends, which a bare Xvfb install lacks.
have_libs() { ldconfig -p 2>/dev/null | grep -q "libxcb-cursor.so.0" && ldconfig -p 2>/dev/null | grep -q "libxkbcommon-x11.so.0"; }
if [ -n "${DISPLAY:-}" ] || { command -v Xvfb >/dev/null 2>&1 && have_libs; }; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-xvfb: installing xvfb (and the GL/X libraries Qt and VTK need) with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends \
        xvfb xauth libgl1 libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 \
        libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 \
        libxcb-xfixes0 libdbus-1-3 libfontconfig1 >/dev/null \
        || echo "ensure-xvfb: apt-get failed; GUI tests will be skipped"
else
    echo "ensure-xvfb: no display and no Xvfb: GUI tests will be skipped."
    echo "             Install Xvfb (Debian/Ubuntu: sudo apt-get install xvfb) to run them."
fi
exit 0
