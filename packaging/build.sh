#!/usr/bin/env bash
# Build the installable workbench: a frozen one-folder program, a .tar.gz and a .deb.
#
#   packaging/build.sh [--out DIR] [--no-deb] [--no-tar]
#
# From a clean checkout this is the one command (also `make package`). It
#   1. makes a build environment ($BUILD_VENV, default build/package-venv) with only the
#      run-time dependencies (CPU torch, the GUI stack) and PyInstaller: no test or dev tools;
#   2. freezes the app with PyInstaller (packaging/workbench.spec) into $OUT/workbench/;
#   3. packs $OUT/simulation-workbench-VERSION-linux-x86_64.tar.gz and
#      $OUT/simulation-workbench_VERSION_amd64.deb (dpkg-deb).
# Environment: PYTHON (3.11+, default python3), TORCH_SPEC (default torch==2.13.0, the CPU
# wheel), BUILD_VENV, OUT (default dist), GZIP_LEVEL (default 6).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC-torch==2.13.0}"
BUILD_VENV="${BUILD_VENV:-$ROOT/build/package-venv}"
OUT="${OUT:-$ROOT/dist}"
GZIP_LEVEL="${GZIP_LEVEL:-6}"
PYINSTALLER_SPEC="pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9"
MAKE_DEB=1
MAKE_TAR=1
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT="$2"; shift 2 ;;
        --no-deb) MAKE_DEB=0; shift ;;
        --no-tar) MAKE_TAR=0; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
command -v dpkg-deb >/dev/null || [ "$MAKE_DEB" = 0 ] || { echo "build.sh: dpkg-deb not found (apt-get install dpkg, or --no-deb)" >&2; exit 2; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$ROOT/build/pyinstaller"
VERSION="$("$PYTHON" -c 'import re,sys; print(re.search(r"__version__\s*=\s*\"([^\"]+)\"", open("engine/_version.py").read()).group(1))')"
NAME="simulation-workbench"
T0=$(date +%s)
step() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }

# 1. The build environment, remade when pyproject.toml or the pinned specs change.
STAMP="$BUILD_VENV/.package-installed"
KEY="$(sha256sum pyproject.toml | cut -c1-16) $TORCH_SPEC $PYINSTALLER_SPEC"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$KEY" ]; then
    step "build environment $BUILD_VENV"
    rm -rf "$BUILD_VENV"
    "$PYTHON" -m venv "$BUILD_VENV"
    "$BUILD_VENV/bin/python" -m pip install --quiet --upgrade pip
    if [ -n "$TORCH_SPEC" ]; then "$BUILD_VENV/bin/python" -m pip install --quiet "$TORCH_SPEC"; fi
    # editable: the bundle's engine/ and workbench/ are this checkout's
    "$BUILD_VENV/bin/python" -m pip install --quiet -e ".[gui,ml]" $PYINSTALLER_SPEC
    echo "$KEY" > "$STAMP"
fi

# 2. Freeze.
step "PyInstaller"
rm -rf "$OUT/workbench"
nice -n "${NICE:-10}" "$BUILD_VENV/bin/python" -m PyInstaller --noconfirm --log-level "${PYI_LOG_LEVEL:-WARN}" \
    --distpath "$OUT" --workpath "$WORK" packaging/workbench.spec
APP="$OUT/workbench"
test -x "$APP/workbench"

# Shared pieces of both packages: the desktop entry and the icons.
stage_share() {  # $1 = a .../share folder
    install -Dm644 packaging/linux/$NAME.desktop "$1/applications/$NAME.desktop"
    install -Dm644 resources/icons/workbench.svg "$1/icons/hicolor/scalable/apps/$NAME.svg"
    install -Dm644 resources/icons/workbench.png "$1/icons/hicolor/256x256/apps/$NAME.png"
    install -Dm644 resources/icons/workbench-128.png "$1/icons/hicolor/128x128/apps/$NAME.png"
    install -Dm644 resources/icons/workbench-48.png "$1/icons/hicolor/48x48/apps/$NAME.png"
}
STAGE="$ROOT/build/package-stage"
rm -rf "$STAGE"

# 3a. The archive: unpack anywhere, run ./workbench.
if [ "$MAKE_TAR" = 1 ]; then
    step "tar.gz"
    TOP="$NAME-$VERSION-linux-x86_64"
    mkdir -p "$STAGE/tar"
    cp -a "$APP" "$STAGE/tar/$TOP"
    stage_share "$STAGE/tar/$TOP/share"
    install -m644 packaging/linux/README.txt "$STAGE/tar/$TOP/README.txt"
    rm -f "$OUT/$TOP.tar.gz"
    tar -C "$STAGE/tar" --owner=0 --group=0 --numeric-owner -cf - "$TOP" | nice -n "${NICE:-10}" gzip -"$GZIP_LEVEL" > "$OUT/$TOP.tar.gz.part"
    mv "$OUT/$TOP.tar.gz.part" "$OUT/$TOP.tar.gz"
    rm -rf "$STAGE/tar"
fi

# 3b. The Debian package: /opt/simulation-workbench, /usr/bin/workbench, menu entry, icons.
if [ "$MAKE_DEB" = 1 ]; then
    step ".deb"
    DEB="$STAGE/deb"
    mkdir -p "$DEB/opt" "$DEB/usr/bin" "$DEB/DEBIAN"
    cp -a "$APP" "$DEB/opt/$NAME"
    ln -s "/opt/$NAME/workbench" "$DEB/usr/bin/workbench"
    stage_share "$DEB/usr/share"
    install -Dm644 packaging/linux/README.txt "$DEB/usr/share/doc/$NAME/README.txt"
    SIZE_KB=$(du -sk --exclude=DEBIAN "$DEB" | cut -f1)
    DEPENDS="$(tr '\n' ' ' < packaging/linux/depends.txt | sed -E 's/ +$//; s/ +/ /g')"
    sed -e "s/@VERSION@/$VERSION/" -e "s/@INSTALLED_SIZE@/$SIZE_KB/" -e "s/@DEPENDS@/$DEPENDS/" \
        packaging/linux/control.in > "$DEB/DEBIAN/control"
    DEBFILE="$OUT/${NAME}_${VERSION}_amd64.deb"
    rm -f "$DEBFILE"
    nice -n "${NICE:-10}" dpkg-deb --root-owner-group -Zgzip -z"$GZIP_LEVEL" --build "$DEB" "$DEBFILE.part" >/dev/null
    mv "$DEBFILE.part" "$DEBFILE"
    rm -rf "$DEB"
fi

step "done"
du -sh "$APP" | sed 's/^/folder  /'
ls -l "$OUT"/*.tar.gz "$OUT"/*.deb 2>/dev/null | awk '{printf "%-7s %6.0f MiB  %s\n", ($NF ~ /deb$/ ? "deb" : "archive"), $5/1048576, $NF}'
