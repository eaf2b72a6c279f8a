#!/usr/bin/env bash
# Builds the student side's Debian package from a built pult-agent:
#   packaging/linux/build-deb.sh target/release/pult-agent OUT_DIR
# and prints the path of the .deb. Needs dpkg-dev (dpkg-shlibdeps) and binutils.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=$1
out=$2
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../../Cargo.toml" | head -n1)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

install -D -m 0755 "$binary" "$stage/usr/bin/pult-agent"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/pult-agent"
install -D -m 0644 "$here/pult-agent.service" "$stage/lib/systemd/system/pult-agent.service"
install -D -m 0644 "$here/deb/copyright" "$stage/usr/share/doc/pult-agent/copyright"
install -D -m 0644 "$here/deb/lintian-overrides" "$stage/usr/share/lintian/overrides/pult-agent"
# SOURCE_DATE_EPOCH keeps the package reproducible.
date=$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)}")
printf 'pult-agent (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- Pult developers <pult@example.invalid>  %s\n' \
  "$version" "$version" "$date" | gzip -9n > "$stage/usr/share/doc/pult-agent/changelog.gz"
chmod 0644 "$stage/usr/share/doc/pult-agent/changelog.gz"

# The shared libraries the program needs, as Debian packages.
mkdir "$stage/debian"
printf 'Source: pult\n\nPackage: pult-agent\nArchitecture: any\n' > "$stage/debian/control"
shlibs=$(cd "$stage" && dpkg-shlibdeps -O usr/bin/pult-agent 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -r "$stage/debian"
size=$(du -sk "$stage" | cut -f1)

install -d -m 0755 "$stage/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" \
  "$here/deb/control" > "$stage/DEBIAN/control"
install -m 0644 "$here/deb/templates" "$stage/DEBIAN/templates"
for script in config postinst prerm postrm; do
  install -m 0755 "$here/deb/$script" "$stage/DEBIAN/$script"
done

(cd "$stage" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$stage/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/pult-agent_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
