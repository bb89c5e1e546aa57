#!/usr/bin/env bash
# Packs what test/gpu/run.sh needs on a GPU machine where nothing can be installed: this node binary,
# the built addon, the OpenMPI runtime it links (relocatable through OPAL_PREFIX), the GPU checks
# bundled into one JavaScript file, and the C reference program. CUDA and NCCL are NOT packed: they
# come from the GPU machine (the driver, and the NCCL of its Python environment or system).
#
#   bash test/gpu/pack.sh      -> test/.tmp/gpu-bundle.tar.gz (about 45 MB; carry it with the tree)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/test/.tmp/gpu-bundle
rm -rf "$out" "$out.tar.gz"
mkdir -p "$out/bin"

node=$(command -v node)
cp "$(readlink -f "$node")" "$out/bin/node"
addon=$root/build/Release/mpi4node.node
[ -f "$addon" ] || { echo "pack: build the addon first (node-gyp build)" >&2; exit 1; }
cp "$addon" "$out/mpi4node.node"

# The checks, lib/ included, as one ES module (no tsx needed there). The addon is found through
# MPI4NODE_ADDON, which run.sh sets, so node-gyp-build stays out.
"$root/node_modules/.bin/esbuild" "$here/check.ts" --bundle --platform=node --format=esm --target=node20 \
  --external:node-gyp-build --outfile="$out/check.mjs" --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"

cc -O2 -o "$out/nccl_allreduce" "$here/nccl_allreduce.c" -ldl

# OpenMPI, laid out under one prefix as it is under /usr, so OPAL_PREFIX relocates every path it
# computes (libraries, plugins, help texts, orted).
libmpi=$(ldd "$addon" | awk '/libmpi\.so/ {print $3}')
if [ -n "$libmpi" ]; then
  mpi=$out/openmpi
  multiarch=$(basename "$(dirname "$libmpi")")   # x86_64-linux-gnu
  libdir=$(dirname "$libmpi")
  mkdir -p "$mpi/lib/$multiarch" "$mpi/bin" "$mpi/share" "$mpi/etc"
  # the libraries the addon and orted need, except the C library's own
  for lib in $( (ldd "$addon"; ldd "$(command -v orted)") | awk '/=> \// {print $3}' | sort -u); do
    case "$(basename "$lib")" in libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libstdc++*|libgcc_s*) continue ;; esac
    cp -L "$lib" "$mpi/lib/$multiarch/"
  done
  if [ -d "$libdir/openmpi" ]; then   # Debian: plugins and the private libraries under <libdir>/openmpi
    cp -a "$libdir/openmpi" "$mpi/lib/$multiarch/openmpi"
    rm -rf "$mpi/lib/$multiarch/openmpi/include"
  fi
  [ -d /usr/share/openmpi ] && cp -a /usr/share/openmpi "$mpi/share/openmpi"
  [ -d /etc/openmpi ] && cp -a /etc/openmpi/. "$mpi/etc/"
  cp "$(readlink -f "$(command -v orterun || command -v mpirun)")" "$mpi/bin/mpirun"
  cp "$(readlink -f "$(command -v orted)")" "$mpi/bin/orted"
  echo "$multiarch" > "$mpi/MULTIARCH"
fi

tar -C "$out" -czf "$out.tar.gz" .
echo "pack: $(du -h "$out.tar.gz" | cut -f1) in $out.tar.gz"
