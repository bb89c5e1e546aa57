#!/usr/bin/env bash
# The one script to run on a machine with an NVIDIA GPU: everything the CI suites cannot check without
# one (test/gpu/check.ts), against the real CUDA runtime and NCCL.
#
#   1. real NCCL, one rank: allreduce correctness for every op x dtype; the other collectives;
#      host <-> device copy bandwidth; NCCL allreduce call overhead against test/gpu/nccl_allreduce.c
#   2. device messages between two ranks sharing the GPU, through comm.send/recv/isend/irecv
#      (device <-> device, device -> host, host -> device; staged unless MPI is CUDA-aware)
#
# It builds and installs nothing. When test/.tmp/gpu-bundle.tar.gz is there (test/gpu/pack.sh makes it)
# it runs the bundle's node, addon, checks and Open MPI (relocated through OPAL_PREFIX); without one
# (or with MPI4NODE_GPU_USE_BUNDLE=0) it runs what the checkout has (node, build/Release, tsx, mpirun).
# NCCL comes from the machine: MPI4NODE_NCCL if set, else the Python environment's nvidia-nccl wheel,
# else the loader's own search (docs/gpu.md). Every step has a time limit, so results.json is always
# written. Results: a summary on stdout, JSON and the logs in $OUT (or test/.tmp/gpu-results).
#
#   bash test/gpu/run.sh                       # on the GPU machine, with the bundle carried along
#   MPI4NODE_GPU_QUICK=1 ...                   # fewer sizes and iterations (the rehearsal on the fakes)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
results=${OUT:-$root/test/.tmp/gpu-results}
mkdir -p "$results"
cd "$root"
bundle=$root/test/.tmp/gpu-bundle
say() { echo "gpu/run.sh: $*"; }
step_s=${MPI4NODE_GPU_STEP_S:-240}

# A bundle packed again since the last extraction replaces it (ignored outputs survive on a warm machine).
if [ -f "$bundle.tar.gz" ] && { [ ! -f "$bundle/.stamp" ] || [ "$bundle.tar.gz" -nt "$bundle/.stamp" ]; }; then
  rm -rf "$bundle" && mkdir -p "$bundle" && tar -xzf "$bundle.tar.gz" -C "$bundle" && touch "$bundle/.stamp"
fi
use_bundle=0
if [ -f "$bundle/.stamp" ] && [ "${MPI4NODE_GPU_USE_BUNDLE:-1}" != 0 ]; then use_bundle=1; fi

# ---- node, the addon, the checks and MPI ----
if [ $use_bundle = 1 ]; then
  NODE=$bundle/bin/node
  check=("$bundle/check.mjs")
  export MPI4NODE_ADDON=$bundle/mpi4node.node
  mpi=$bundle/openmpi
  multiarch=$(cat "$mpi/MULTIARCH")
  lib=$mpi/lib/$multiarch
  export OPAL_PREFIX=$mpi
  export PMIX_PREFIX=$lib/pmix2 PMIX_MCA_mca_base_component_path=$lib/pmix2/lib/pmix
  export LD_LIBRARY_PATH=$lib:$lib/openmpi/lib:$lib/pmix2/lib:${LD_LIBRARY_PATH:-}
  export PATH=$mpi/bin:$PATH
  MPIRUN=$mpi/bin/orterun
  say "the bundle: node, addon, checks, Open MPI ($(tr '\n' ' ' < "$mpi/PACKAGES"))"
else
  NODE=$(command -v node || true)
  MPIRUN=$(command -v mpirun || true)
  [ -n "$NODE" ] && [ -n "$MPIRUN" ] && [ -f node_modules/tsx/package.json ] && [ -f build/Release/mpi4node.node ] || {
    say "no bundle (run test/gpu/pack.sh where the addon is built, carry test/.tmp/gpu-bundle.tar.gz), and no node/mpirun/tsx/build here"
    exit 1
  }
  check=(--import tsx "$here/check.ts")
  export MPI4NODE_ADDON=${MPI4NODE_ADDON:-$root/build/Release/mpi4node.node}
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Shared memory between the ranks of one machine; plugins for fabrics this machine lacks stay quiet.
# No CMA single copy: it fails where ptrace is restricted (sandboxed machines), and both sides of the
# staging comparison (device buffers, host arrays) go through the same copy path.
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader,tcp}
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
export OMPI_MCA_mca_base_component_show_load_errors=0
# NCCL says nothing about a failure unless asked; a hung creation or collective ends in 60 s.
export NCCL_DEBUG=${NCCL_DEBUG:-WARN} MPI4NODE_NCCL_TIMEOUT_MS=${MPI4NODE_NCCL_TIMEOUT_MS:-60000}

# ---- NCCL from the Python environment, when not given ----
if [ -z "${MPI4NODE_NCCL:-}" ]; then
  for py in python3 python; do
    command -v "$py" >/dev/null || continue
    dir=$("$py" -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null) || continue
    if [ -f "$dir/libnccl.so.2" ]; then export MPI4NODE_NCCL=$dir/libnccl.so.2; break; fi
  done
fi
say "node $("$NODE" --version), addon $MPI4NODE_ADDON, NCCL ${MPI4NODE_NCCL:-(the loader searches)}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,compute_mode,memory.total --format=csv,noheader

# ---- the C reference: the bundle's, else built here, in a temporary folder ($OUT may be noexec) ----
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ $use_bundle = 1 ]; then cp "$bundle/nccl_allreduce" "$tmp/"
elif command -v cc >/dev/null; then cc -O2 -o "$tmp/nccl_allreduce" "$here/nccl_allreduce.c" -ldl 2>"$results/cc.log" || true
fi
export NCCL_REF=$([ -x "$tmp/nccl_allreduce" ] && echo "$tmp/nccl_allreduce")

status=0
run_step() { # name ranks mode
  local name=$1 np=$2 mode=$3 rc
  timeout -k 10 "$step_s" "$MPIRUN" -np "$np" --oversubscribe --bind-to none "$NODE" "${check[@]}" "$mode" >"$results/$name.log" 2>&1
  rc=$?
  grep -v '^RESULT ' "$results/$name.log"
  [ $rc = 124 ] || [ $rc = 137 ] && say "$name: stopped after ${step_s} s"
  [ $rc = 0 ] || { say "$name: exit $rc"; status=1; }
}
say "1/2 one rank: NCCL correctness, copy bandwidth, call overhead"
run_step single 1 single
say "2/2 two ranks on one GPU: device messages over MPI"
run_step staging 2 staging

# One JSON file with both results (null where a step wrote none).
single=$(grep -h '^RESULT ' "$results/single.log" | tail -1 | cut -c8-)
staging=$(grep -h '^RESULT ' "$results/staging.log" | tail -1 | cut -c8-)
echo "{\"single\": ${single:-null}, \"staging\": ${staging:-null}}" > "$results/results.json"
for s in single staging; do grep -q '^RESULT .*"failures":0}$' "$results/$s.log" || status=1; done
fails=$(grep -h '^FAIL' "$results/single.log" "$results/staging.log" | wc -l)
say "summary: $(grep -h '^SUMMARY ' "$results/single.log" "$results/staging.log" | cut -c9- | tr '\n' ';')"
say "results in $results/results.json; $([ $status = 0 ] && echo 'all checks passed' || echo "FAILED ($fails FAIL lines above)")"
exit $status
