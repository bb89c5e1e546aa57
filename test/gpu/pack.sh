#!/usr/bin/env bash
# Packs what test/gpu/run.sh needs on a GPU machine where nothing can be installed: this node binary,
# the addon built here, Open MPI's runtime unpacked from Debian's own packages (the versions installed
# here, relocatable through OPAL_PREFIX) with the shared libraries it needs from elsewhere, the GPU
# checks bundled into one JavaScript file, and the C reference program. CUDA and NCCL are NOT packed:
# they come from the GPU machine (the driver, and the NCCL of its Python environment).
#
#   bash test/gpu/pack.sh      -> test/.tmp/gpu-bundle.tar.gz (carry it with the tree)
#
# Needs apt-get (downloads into test/.tmp/debs, reused), dpkg-deb, esbuild (node_modules) and cc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/test/.tmp/gpu-bundle
debs=$root/test/.tmp/debs
rm -rf "$out" "$out.tar.gz"
mkdir -p "$out/bin" "$debs"
say() { echo "pack: $*"; }

node=$(command -v node)
cp "$(readlink -f "$node")" "$out/bin/node"
addon=$root/build/Release/mpi4node.node
[ -f "$addon" ] || { echo "pack: build the addon first (node scripts/setup.mjs)" >&2; exit 1; }
cp "$addon" "$out/mpi4node.node"

# The checks, lib/ included, as one ES module (no tsx needed there). The addon is found through
# MPI4NODE_ADDON, which run.sh sets, so node-gyp-build stays out.
"$root/node_modules/.bin/esbuild" "$here/check.ts" --bundle --platform=node --format=esm --target=node20 \
  --external:node-gyp-build --outfile="$out/check.mjs" --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"

cc -O2 -o "$out/nccl_allreduce" "$here/nccl_allreduce.c" -ldl

# ---- Open MPI from Debian's packages, at the versions the addon was built against ----
libmpi=$(ldd "$addon" | awk '/libmpi\.so/ {print $3}')
[ -n "$libmpi" ] || { echo "pack: the addon does not link libmpi" >&2; exit 1; }
libdir=$(dirname "$(readlink -f "$libmpi")")
multiarch=$(basename "$libdir")   # x86_64-linux-gnu
# libpmix2: Debian's Open MPI is built --with-pmix=<libdir>/pmix2 and loads it through mca_pmix_ext3x.
pkgs=(libopenmpi3 openmpi-bin openmpi-common libpmix2)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
manifest=()
for p in "${pkgs[@]}"; do
  v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null) || { echo "pack: Debian package $p is not installed" >&2; exit 1; }
  deb=$(ls "$debs/${p}_"*.deb 2>/dev/null | grep -F "_${v//:/%3a}_" | head -1 || true)
  if [ -z "$deb" ]; then
    (cd "$debs" && apt-get download -q "$p=$v" >/dev/null 2>&1) || { echo "pack: apt-get download $p=$v failed" >&2; exit 1; }
    deb=$(ls "$debs/${p}_"*.deb | grep -F "_${v//:/%3a}_" | head -1)
  fi
  dpkg-deb -x "$deb" "$stage"
  manifest+=("$p $v")
done
mpi=$out/openmpi
mkdir -p "$mpi"
cp -a "$stage/usr/." "$mpi/"
rm -rf "$mpi/share/doc" "$mpi/share/man" "$mpi/lib/$multiarch/pmix2/include" "$mpi/lib/$multiarch/openmpi/include"
echo "$multiarch" > "$mpi/MULTIARCH"
printf '%s\n' "${manifest[@]}" > "$mpi/PACKAGES"

# Shared libraries from other packages (hwloc, libevent, munge, ...): every ELF file of the bundle is
# resolved with the bundle's folders first; what resolves outside it, except the C and C++ runtimes the
# GPU machine has anyway, is copied in. Repeated until nothing new comes in.
mlib=$mpi/lib/$multiarch
dirs=$mlib:$mlib/openmpi/lib:$mlib/pmix2/lib
elfs() { find "$out/mpi4node.node" "$mpi/bin" "$mlib" -type f \( -name '*.so*' -o -perm -u+x \) 2>/dev/null; }
for round in 1 2 3; do
  added=0
  while read -r lib; do
    case "$(basename "$lib")" in libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libstdc++*|libgcc_s*) continue ;; esac
    case "$lib" in "$out"/*) continue ;; esac
    [ -e "$mlib/$(basename "$lib")" ] && continue
    cp -L "$lib" "$mlib/"
    added=1
  done < <(elfs | while read -r f; do LD_LIBRARY_PATH=$dirs ldd "$f" 2>/dev/null | awk '/=> \// {print $3}'; done | sort -u)
  [ $added = 0 ] && break
done

# Every library the run needs must resolve inside the bundle. Plugins for fabrics this machine has no
# libraries for (they would not load here either) are listed, not fatal: Open MPI skips them quietly.
missing=0
for f in "$out/mpi4node.node" "$mpi/bin/orterun" "$mpi/bin/orted" "$mlib/openmpi/lib/openmpi3/mca_pmix_ext3x.so" \
  "$mlib/pmix2/lib/libpmix.so.2"; do
  [ -e "$f" ] || { echo "pack: $f is missing from the bundle" >&2; missing=1; continue; }
  if LD_LIBRARY_PATH=$dirs ldd "$f" | grep -q 'not found'; then
    echo "pack: $f has unresolved libraries:" >&2
    LD_LIBRARY_PATH=$dirs ldd "$f" | grep 'not found' >&2
    missing=1
  fi
done
[ $missing = 0 ] || exit 1
skipped=$(find "$mlib/openmpi/lib" "$mlib/pmix2/lib" -name '*.so' -type f | while read -r f; do
  LD_LIBRARY_PATH=$dirs ldd "$f" 2>/dev/null | grep -q 'not found' && basename "$f"; done | tr '\n' ' ' || true)
[ -z "$skipped" ] || say "plugins that cannot load here either (left as they are): $skipped"

tar -C "$out" -czf "$out.tar.gz" .
say "$(du -h "$out.tar.gz" | cut -f1) in $out.tar.gz (Open MPI from: $(tr '\n' ',' < "$mpi/PACKAGES" | sed 's/,$//'))"
