#!/usr/bin/env bash
# Makes a Wine prefix the Windows agent's tests run in, and prints its path.
#
#   scripts/wine-prefix.sh [PREFIX]     default: target/wine
#
# A fresh prefix (wineboot, ~10 s), plus a stand-in for bcryptprimitives.dll:
# Rust's std imports ProcessPrng from it and Wine 8 lacks it
# (packaging/windows/wine/bcryptprimitives.c, built here with mingw).
# The tests' displays are Xvfb without a window manager, so Wine is told
# to leave no window to one (X11 Driver, Managed=N): otherwise it waits two
# seconds for a window manager each time a full-screen window (the lock
# screen) is hidden. The user's folders are real folders in the prefix,
# not Wine's links to $HOME.
# Nothing of this is shipped; it exists only for the tests under Wine.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=$(realpath -m "${1:-target/wine}")
export WINEPREFIX=$prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml,winemenubuilder.exe="
dll=$prefix/drive_c/windows/system32/bcryptprimitives.dll
if [ ! -f "$prefix/system.reg" ]; then
  mkdir -p "$prefix"
  wineboot -i >/dev/null 2>&1
  wine reg add 'HKCU\Software\Wine\X11 Driver' /v Managed /d N /f >/dev/null 2>&1
  wineserver -w
  # Wine links the user's Desktop, Documents, ... to $HOME; files the
  # agent receives would land in this machine's home. Real folders instead.
  for folder in "$prefix"/drive_c/users/*/*; do
    if [ -L "$folder" ]; then rm "$folder" && mkdir "$folder"; fi
  done
fi
if [ ! -f "$dll" ] || [ packaging/windows/wine/bcryptprimitives.c -nt "$dll" ]; then
  x86_64-w64-mingw32-gcc -O2 -shared -o "$dll" \
    packaging/windows/wine/bcryptprimitives.c packaging/windows/wine/bcryptprimitives.def -ladvapi32
fi
echo "$prefix"
