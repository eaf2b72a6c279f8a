#!/usr/bin/env bash
# Builds a Windows program of Pult here, with Debian's mingw-w64, and its MSI
# with Debian's wixl and msitools.
#
#   packaging/windows/build-msi.sh [agent|app] [debug|release] [OUT.msi] [VERSION]
#
# agent: the student agent and its service (pult-agent.wxs); app: the
# teacher app (pult-app.wxs). Default: agent, release,
# target/windows/pult-PRODUCT-VERSION.msi, the workspace's version. The tests
# use debug builds (quicker to make; the same code).
set -euo pipefail
[ -n "${3:-}" ] && out=$(realpath -m "$3")
cd "$(dirname "$0")/../.."

product=${1:-agent}
profile=${2:-release}
case $profile in
  debug | release) ;;
  *) echo "build-msi.sh: '$profile' is neither debug nor release" >&2; exit 2 ;;
esac
version=${4:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)}
out=${out:-target/windows/pult-$product-$version.msi}
flag=(); [ "$profile" = release ] && flag=(--release)
built=target/x86_64-pc-windows-gnu/$profile
case $product in
  agent)
    cargo build "${flag[@]}" --target x86_64-pc-windows-gnu -p pult-agent --quiet
    sources=(-D AgentExe="$built/pult-agent.exe")
    ;;
  app)
    # The web front end is built into the program (ui/, by its build script).
    cargo build "${flag[@]}" --target x86_64-pc-windows-gnu -p pult --quiet
    sources=(-D AppExe="$built/pult.exe" -D WebViewLoader="$built/WebView2Loader.dll")
    ;;
  *)
    echo "build-msi.sh: '$product' is neither agent nor app" >&2
    exit 2
    ;;
esac
mkdir -p "$(dirname "$out")"
wixl -a x64 -D Version="$version" "${sources[@]}" -o "$out" "packaging/windows/pult-$product.wxs"
# wixl drops IncludeMaximum (512) from UpgradeVersion: without it a rebuild
# of the same version would be installed beside the old one instead of
# replacing it. Set it in the Upgrade table with msitools' own msibuild.
tables=$(mktemp -d)
trap 'rm -rf "$tables"' EXIT
msiinfo export "$out" Upgrade |
  awk -F'\t' 'BEGIN { OFS = "\t" }
    $7 ~ /^PULT_UPGRADE\r?$/ { found = 1; if (int($5 / 512) % 2 == 0) $5 += 512 }
    { print }
    END { if (!found) { print "build-msi.sh: no PULT_UPGRADE row in the Upgrade table" > "/dev/stderr"; exit 1 } }' \
    >"$tables/Upgrade.idt"
# wixl drops HideTarget (8192) from custom actions too: the enrolment's
# command line carries the token and must stay out of msiexec's logs.
msiinfo export "$out" CustomAction |
  awk -F'\t' 'BEGIN { OFS = "\t" }
    $1 ~ /^(InstallEnrolment|EnrolTeacherPc)$/ { found = 1; if (int($2 / 8192) % 2 == 0) $2 += 8192 }
    { print }
    END { if (!found) { print "build-msi.sh: no enrolment row in the CustomAction table" > "/dev/stderr"; exit 1 } }' \
    >"$tables/CustomAction.idt"
msi=$(realpath "$out")
(cd "$tables" && msibuild "$msi" -i Upgrade.idt && msibuild "$msi" -i CustomAction.idt)
echo "$out"
