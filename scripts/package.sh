#!/usr/bin/env bash
# Makes the Debian package backprop_VERSION_amd64.deb (the shared library, headers, CMake package,
# pkg-config file and the program) in the build tree, and prints its name, size and dependencies.
#
#   bash scripts/package.sh          (environment: BUILD_DIR, default build; JOBS)
#
# Install it with: apt-get install ./build/backprop_VERSION_amd64.deb
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}

bash scripts/install-deps.sh package
[[ -f $BUILD_DIR/CMakeCache.txt ]] || bash scripts/configure.sh "$BUILD_DIR" \
  -DBP_BUILD_TESTS=OFF -DBP_BUILD_BENCH=OFF -DBP_BUILD_EXAMPLES=OFF
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
rm -f "$BUILD_DIR"/backprop_*.deb
(cd "$BUILD_DIR" && cpack -G DEB >/dev/null)
deb=$(ls "$BUILD_DIR"/backprop_*.deb)

# What a user of the package relies on must be inside it.
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/backprop ./usr/include/backprop/backprop.hpp ./usr/include/backprop/version.hpp \
         ./usr/include/backprop/export.hpp ./usr/lib/cmake/backprop/backpropConfig.cmake \
         ./usr/lib/cmake/backprop/backpropConfigVersion.cmake \
         ./usr/lib/cmake/backprop/backpropTargets.cmake ./usr/lib/pkgconfig/backprop.pc; do
  grep -q " $f\$" <<<"$contents" || { echo "package.sh: $deb lacks $f" >&2; exit 1; }
done
grep -q ' ./usr/lib/libbackprop.so' <<<"$contents" || { echo "package.sh: no library in $deb" >&2; exit 1; }
echo "$deb ($(du -k "$deb" | cut -f1) KiB)"
echo "Depends: $(dpkg-deb -f "$deb" Depends)"
