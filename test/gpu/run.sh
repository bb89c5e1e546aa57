#!/usr/bin/env bash
# The one script to run on any machine with an NVIDIA GPU: everything the CI suites cannot check
# without one (test/gpu/check.ts), against the real CUDA runtime and NCCL.
#
#   1. real NCCL, one rank: allreduce correctness for every op x dtype; the other collectives
#   2. device buffers over MPI between two ranks sharing the GPU (staged unless MPI is CUDA-aware)
#   3. host <-> device copy bandwidth
#   4. NCCL allreduce call overhead against test/gpu/nccl_allreduce.c, in the same run
#
# It installs nothing. It uses, in this order: what the checkout has (node, build/Release, tsx in
# node_modules, mpirun on PATH), then the bundle test/gpu/pack.sh made (test/.tmp/gpu-bundle.tar.gz:
# node, the addon, the OpenMPI runtime, the checks as one .mjs, the C reference). NCCL comes from the
# machine: MPI4NODE_NCCL if set, else the Python environment's nvidia-nccl wheel, else the loader's
# own search (docs/gpu.md). Results: readable on stdout, JSON in $OUT (or test/.tmp/gpu-results).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
results=${OUT:-$root/test/.tmp/gpu-results}
mkdir -p "$results"
cd "$root"
bundle=$root/test/.tmp/gpu-bundle
say() { echo "gpu/run.sh: $*"; }

if [ ! -d "$bundle" ] && [ -f "$bundle.tar.gz" ]; then
  mkdir -p "$bundle" && tar -xzf "$bundle.tar.gz" -C "$bundle"
fi
have_bundle=$([ -d "$bundle" ] && echo 1 || echo 0)

# ---- node and the checks ----
NODE=${NODE:-$(command -v node || true)}
if [ -z "$NODE" ] && [ "$have_bundle" = 1 ]; then NODE=$bundle/bin/node; fi
[ -n "$NODE" ] || { say "no node, and no bundle (run test/gpu/pack.sh where node is, carry test/.tmp/gpu-bundle.tar.gz)"; exit 1; }
if [ -f "$root/node_modules/tsx/package.json" ] && [ -f "$root/build/Release/mpi4node.node" ] && [ "${MPI4NODE_GPU_USE_BUNDLE:-0}" != 1 ]; then
  check=(--import tsx "$here/check.ts")
  export MPI4NODE_ADDON=${MPI4NODE_ADDON:-$root/build/Release/mpi4node.node}
else
  [ "$have_bundle" = 1 ] || { say "no tsx/build here and no bundle"; exit 1; }
  check=("$bundle/check.mjs")
  export MPI4NODE_ADDON=${MPI4NODE_ADDON:-$bundle/mpi4node.node}
fi

# ---- MPI: the system's if the addon's libmpi resolves, else the bundle's, relocated ----
MPIRUN=$(command -v mpirun || true)
if ! ldd "$MPI4NODE_ADDON" 2>/dev/null | grep -q 'libmpi.*=> /' || [ -z "$MPIRUN" ] || [ "${MPI4NODE_GPU_USE_BUNDLE:-0}" = 1 ]; then
  if [ "$have_bundle" = 1 ] && [ -d "$bundle/openmpi" ]; then
    multiarch=$(cat "$bundle/openmpi/MULTIARCH")
    export OPAL_PREFIX=$bundle/openmpi
    export LD_LIBRARY_PATH=$bundle/openmpi/lib/$multiarch:$bundle/openmpi/lib/$multiarch/openmpi/lib:${LD_LIBRARY_PATH:-}
    export PATH=$bundle/openmpi/bin:$PATH
    MPIRUN=$bundle/openmpi/bin/mpirun
    say "using the bundled OpenMPI ($OPAL_PREFIX)"
  else
    say "no MPI runtime for the addon (install OpenMPI, or carry the bundle)"; exit 1
  fi
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Shared memory between the ranks of one machine; plugins for fabrics this machine lacks stay quiet.
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader,tcp}
export OMPI_MCA_mca_base_component_show_load_errors=0

# ---- NCCL from the Python environment, when not given ----
if [ -z "${MPI4NODE_NCCL:-}" ]; then
  for py in python3 python; do
    command -v "$py" >/dev/null || continue
    dir=$("$py" -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null) || continue
    if [ -f "$dir/libnccl.so.2" ]; then export MPI4NODE_NCCL=$dir/libnccl.so.2; break; fi
  done
fi
say "node $("$NODE" --version), addon $MPI4NODE_ADDON, NCCL ${MPI4NODE_NCCL:-(the loader searches)}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

# ---- the C reference ----
ref=$results/nccl_allreduce
if command -v cc >/dev/null && cc -O2 -o "$ref" "$here/nccl_allreduce.c" -ldl 2>"$results/cc.log"; then :
elif [ "$have_bundle" = 1 ]; then cp "$bundle/nccl_allreduce" "$ref"
else ref=""; say "no C compiler and no bundle: the overhead comparison runs without its C reference"; fi
export NCCL_REF=$ref

status=0
say "1/2 one rank: NCCL correctness, copy bandwidth, call overhead"
"$MPIRUN" -np 1 "$NODE" "${check[@]}" single 2>&1 | tee "$results/single.log" || status=1
say "2/2 two ranks on one GPU: device buffers over MPI"
"$MPIRUN" -np 2 --oversubscribe "$NODE" "${check[@]}" staging 2>&1 | tee "$results/staging.log" || status=1

# One JSON file with both results.
single=$(grep -h '^RESULT ' "$results/single.log" | tail -1 | cut -c8-)
staging=$(grep -h 'RESULT ' "$results/staging.log" | tail -1 | sed 's/.*RESULT //')
echo "{\"single\": ${single:-null}, \"staging\": ${staging:-null}}" > "$results/results.json"
grep -q '"failures":0' "$results/single.log" && grep -q '"failures":0' "$results/staging.log" || status=1
say "results in $results/results.json; $([ $status = 0 ] && echo 'all checks passed' || echo 'FAILURES above')"
exit $status
