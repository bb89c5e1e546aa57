#!/usr/bin/env python3
"""OSU-style latency / bw / allreduce benchmarks with mpi4py's buffer API (mpi4py reference side).

Same method, options and output as bench/native/osu_{latency,bw,allreduce}.c (see osu_common.h):

  mpirun -n 2 python3 osu_mpi4py.py latency|bw [--sizes N,N,...] [--iters-scale F] [--iters N]
         [--warmup N] [--hugepages] [--buffer auto|numpy|bytearray|mmap] [--thread-level L]
  mpirun -n N python3 osu_mpi4py.py allreduce ...
  mpirun -n 2 python3 osu_mpi4py.py put_latency|get_latency|acc_latency ...   (as bench/native/osu_rma.c)

Rank 0 prints one JSON object per size on stdout, e.g.
  {"bench":"latency","impl":"mpi4py","size":8,"iters":10000,"warmup":100,"value":0.8,"unit":"us",
   "pages":"normal","ranks":2,"thread":"multiple","buffer":"bytearray"}
everything else goes to stderr.

Buffers: numpy arrays when numpy is importable (pages "numpy": numpy's allocator decides, it
madvises large arrays for huge pages), else bytearray (pages "normal"). --hugepages uses anonymous
private mmap buffers, 2 MiB-aligned, with madvise(MADV_HUGEPAGE), and reports "huge" only when
/proc/self/smaps shows them backed by huge pages. --thread-level sets mpi4py.rc.thread_level before
MPI is initialised; by default mpi4py asks for "multiple" (the C programs default to MPI_Init).
"""
import argparse
import json
import math
import os
import sys

WINDOW = 64
LARGE_MESSAGE_SIZE = 8192
MAX_BYTES = 1 << 30
MAX_SIZES = 256
HUGE_PAGE = 2 << 20
THREAD_LEVELS = ("single", "funneled", "serialized", "multiple")

# bench: (default min size, default max size, size multiple,
#         small iters, small warm-up, large iters, large warm-up) -- OSU's osu_util.h values
BENCHES = {
    "latency": (0, 4194304, 1, 10000, 100, 1000, 10),
    "bw": (1, 4194304, 1, 100, 10, 20, 2),
    "allreduce": (4, 1048576, 4, 1000, 100, 100, 10),
    "bw_persistent": (1, 4194304, 1, 100, 10, 20, 2),
    "mbw_mr": (1, 4194304, 1, 100, 10, 20, 2),
    "put_latency": (1, 4194304, 1, 10000, 100, 1000, 10),
    "get_latency": (1, 4194304, 1, 10000, 100, 1000, 10),
    "acc_latency": (4, 4194304, 4, 10000, 100, 1000, 10),
}


def launcher_rank():
    for var in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK"):
        if var in os.environ:
            try:
                return int(os.environ[var])
            except ValueError:
                pass
    return 0


class Parser(argparse.ArgumentParser):
    def print_help(self, file=None):  # help to stderr too: stdout carries only results
        super().print_help(file or sys.stderr)


def parse_args(argv):
    def sizes(text):
        parts = text.split(",")
        if len(parts) > MAX_SIZES:
            raise argparse.ArgumentTypeError(f"at most {MAX_SIZES} sizes")
        out = []
        for part in parts:
            if not part.isdigit() or not part.isascii() or int(part) > MAX_BYTES:
                raise argparse.ArgumentTypeError(f"'{part}' is not a byte count in [0, {MAX_BYTES}]")
            out.append(int(part))
        return out

    def scale(text):
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not (0 < v <= 1000):
            raise argparse.ArgumentTypeError(f"'{text}' is not a number in (0, 1000]")
        return v

    def count(lo):
        def parse(text):
            if not text.isdigit() or not text.isascii() or not lo <= int(text) <= 100_000_000:
                raise argparse.ArgumentTypeError(f"'{text}' is not an integer in [{lo}, 100000000]")
            return int(text)
        return parse

    p = Parser(prog="osu_mpi4py.py", description="OSU-style benchmarks with mpi4py (one repetition).")
    p.add_argument("bench", choices=sorted(BENCHES))
    p.add_argument("--sizes", type=sizes, help="comma-separated byte counts (default: OSU's range)")
    p.add_argument("--iters-scale", type=scale, default=1.0, help="scale OSU's iteration counts")
    p.add_argument("--iters", type=count(1), help="fixed timed iterations for every size")
    p.add_argument("--warmup", type=count(0), help="fixed warm-up iterations for every size")
    p.add_argument("--hugepages", action="store_true", help="2 MiB-aligned mmap + MADV_HUGEPAGE")
    p.add_argument("--buffer", choices=("auto", "numpy", "bytearray", "mmap"), default="auto")
    p.add_argument("--thread-level", choices=THREAD_LEVELS, help="default: mpi4py's (multiple)")

    quiet = launcher_rank() != 0  # usage and errors from rank 0 only
    saved = sys.stderr
    if quiet:
        sys.stderr = open(os.devnull, "w")
    try:
        args = p.parse_args(argv)
        dmin, dmax, multiple = BENCHES[args.bench][:3]
        if args.sizes is None:
            args.sizes = [0] * (dmin == 0) + [1 << k for k in range(31) if dmin <= 1 << k <= dmax]
        bad = [s for s in args.sizes if s % multiple]
        if bad:
            p.error(f"--sizes: {bad[0]} is not a multiple of {multiple}")
        if args.hugepages and args.buffer not in ("auto", "mmap"):
            p.error("--hugepages needs --buffer mmap (or auto)")
    finally:
        if quiet:
            sys.stderr.close()
            sys.stderr = saved
    return args


class Buffer:
    """A touched buffer of at least nbytes: .b (bytes view), .f (float32 view), .kind, .addr."""

    def __init__(self, nbytes, kind, huge):
        import ctypes

        nbytes = max(4, (nbytes + 3) // 4 * 4)
        self.kind = kind
        if kind == "numpy":
            import numpy as np

            self.b = np.empty(nbytes, dtype=np.uint8)
            self.b.fill(0)
            self.f = self.b.view(np.float32)
            self.addr = self.b.ctypes.data
            return
        if kind == "bytearray":
            self._mem = bytearray(nbytes)
            view = memoryview(self._mem)
        else:  # anonymous private mapping: page-aligned; with huge, 2 MiB-aligned + MADV_HUGEPAGE
            import mmap

            align = HUGE_PAGE if huge else mmap.PAGESIZE
            length = (nbytes + align - 1) // align * align
            self._mem = mmap.mmap(-1, length + align, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            base = ctypes.addressof(ctypes.c_char.from_buffer(self._mem))
            off = (-base) % align
            self.advised = False
            if huge:
                try:
                    self._mem.madvise(mmap.MADV_HUGEPAGE, off, length)
                    self.advised = True
                except (AttributeError, OSError) as exc:
                    print(f"osu_mpi4py: madvise(MADV_HUGEPAGE) failed: {exc}", file=sys.stderr)
            view = memoryview(self._mem)[off:off + length]
        self.addr = ctypes.addressof(ctypes.c_char.from_buffer(view))
        ctypes.memset(self.addr, 0, len(view))
        self.b = view
        self.f = view.cast("f")

    def fill(self, byte, n):
        if n:
            if self.kind == "numpy":
                self.b[:n] = byte
            else:
                self.b[:n] = bytes((byte,)) * n

    def fill_floats(self, value, count):
        if count:
            if self.kind == "numpy":
                self.f[:count] = value
            else:
                from array import array

                self.f[:count] = memoryview(array("f", [value]) * count)


def anon_huge_kb(addr):
    """AnonHugePages (kB) of the mapping containing addr, or -1 if unknown."""
    try:
        with open("/proc/self/smaps") as f:
            inside = False
            for line in f:
                head = line.split(None, 1)[0]
                if "-" in head and ":" not in head:
                    lo, hi = (int(x, 16) for x in head.split("-"))
                    inside = lo <= addr < hi
                elif inside and head == "AnonHugePages:":
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return -1


def pages_of(comm, bufs, args):
    kind = bufs[0].kind
    if kind == "numpy":
        return "numpy"
    if kind == "bytearray":
        return "normal"
    from mpi4py import MPI

    kbs = [anon_huge_kb(b.addr) for b in bufs]
    huge = sum(1 for b, kb in zip(bufs, kbs) if kb > 0 or (kb < 0 and b.advised))
    huge = comm.allreduce(huge, op=MPI.SUM)
    total = len(bufs) * comm.Get_size()
    pages = "normal" if huge == 0 else "huge" if huge == total else "mixed"
    if args.hugepages and pages != "huge" and comm.Get_rank() == 0:
        print(f"osu_mpi4py: warning: --hugepages requested but buffers are {pages}", file=sys.stderr)
    return pages


def iters_for(args, size):
    _, _, _, si, sw, li, lw = BENCHES[args.bench]
    large = size > LARGE_MESSAGE_SIZE
    def scaled(base):
        return max(1, int(base * args.iters_scale + 0.5))
    iters = args.iters if args.iters is not None else scaled(li if large else si)
    warmup = args.warmup if args.warmup is not None else scaled(lw if large else sw)
    return iters, warmup


def latency(MPI, comm, s, r, size, iters, warmup):
    rank = comm.Get_rank()
    sb, rb = s.b[:size], r.b[:size]
    Send, Recv, Wtime = comm.Send, comm.Recv, MPI.Wtime
    comm.Barrier()
    t0 = Wtime()
    if rank == 0:
        for i in range(warmup + iters):
            if i == warmup:
                t0 = Wtime()
            Send(sb, 1, 1)
            Recv(rb, 1, 1)
    else:
        for i in range(warmup + iters):
            if i == warmup:
                t0 = Wtime()
            Recv(rb, 0, 1)
            Send(sb, 0, 1)
    return (Wtime() - t0) * 1e6 / (2.0 * iters), {}


def bw(MPI, comm, s, r, size, iters, warmup):
    rank = comm.Get_rank()
    sb, rb, ack_s, ack_r = s.b[:size], r.b[:size], s.b[:4], r.b[:4]
    Isend, Irecv, Send, Recv = comm.Isend, comm.Irecv, comm.Send, comm.Recv
    Waitall, Wtime = MPI.Request.Waitall, MPI.Wtime
    reqs = [MPI.REQUEST_NULL] * WINDOW
    window = range(WINDOW)
    comm.Barrier()
    t0 = Wtime()
    if rank == 0:
        for i in range(warmup + iters):
            if i == warmup:
                t0 = Wtime()
            for j in window:
                reqs[j] = Isend(sb, 1, 100)
            Waitall(reqs)
            Recv(ack_r, 1, 101)
    else:
        for i in range(warmup + iters):
            if i == warmup:
                t0 = Wtime()
            for j in window:
                reqs[j] = Irecv(rb, 0, 100)
            Waitall(reqs)
            Send(ack_s, 0, 101)
    return size / 1e6 * WINDOW * iters / (Wtime() - t0), {"window": WINDOW}


def bw_persistent(MPI, comm, s, r, size, iters, warmup):
    """bw with a window of persistent requests (Send_init/Recv_init once, Startall + Waitall)."""
    rank = comm.Get_rank()
    sb, rb, ack_s, ack_r = s.b[:size], r.b[:size], s.b[:4], r.b[:4]
    Startall, Waitall, Wtime = MPI.Prequest.Startall, MPI.Request.Waitall, MPI.Wtime
    if rank == 0:
        reqs = [comm.Send_init(sb, 1, 100) for _ in range(WINDOW)]
    else:
        reqs = [comm.Recv_init(rb, 0, 100) for _ in range(WINDOW)]
    comm.Barrier()
    t0 = Wtime()
    for i in range(warmup + iters):
        if i == warmup:
            t0 = Wtime()
        Startall(reqs)
        Waitall(reqs)
        if rank == 0:
            comm.Recv(ack_r, 1, 101)
        else:
            comm.Send(ack_s, 0, 101)
    elapsed = Wtime() - t0
    for q in reqs:
        q.Free()
    return size / 1e6 * WINDOW * iters / elapsed, {"window": WINDOW}


def mbw_mr(MPI, comm, s, r, size, iters, warmup):
    """osu_mbw_mr: rank r < n/2 sends windows to r + n/2; messages per second over all pairs."""
    rank, n = comm.Get_rank(), comm.Get_size()
    pairs = n // 2
    sender = rank < pairs
    peer = rank + pairs if sender else rank - pairs
    sb, rb, ack_s, ack_r = s.b[:size], r.b[:size], s.b[:4], r.b[:4]
    Isend, Irecv, Waitall, Wtime = comm.Isend, comm.Irecv, MPI.Request.Waitall, MPI.Wtime
    reqs = [MPI.REQUEST_NULL] * WINDOW
    window = range(WINDOW)
    comm.Barrier()
    t0 = Wtime()
    for i in range(warmup + iters):
        if i == warmup:
            comm.Barrier()
            t0 = Wtime()
        if sender:
            for j in window:
                reqs[j] = Isend(sb, peer, 100)
            Waitall(reqs)
            comm.Recv(ack_r, peer, 101)
        else:
            for j in window:
                reqs[j] = Irecv(rb, peer, 100)
            Waitall(reqs)
            comm.Send(ack_s, peer, 101)
    elapsed = Wtime() - t0
    comm.Barrier()
    slowest = comm.reduce(elapsed, op=MPI.MAX, root=0)
    if rank != 0:
        return None, {}
    return pairs * WINDOW * iters / slowest, {"window": WINDOW, "pairs": pairs}


def allreduce(MPI, comm, s, r, size, iters, warmup):
    count, nranks = size // 4, comm.Get_size()
    s.fill_floats(1.0, count)
    r.fill_floats(0.0, count)
    smsg, rmsg = [s.f[:count], MPI.FLOAT], [r.f[:count], MPI.FLOAT]
    Allreduce, Barrier, Wtime, SUM = comm.Allreduce, comm.Barrier, MPI.Wtime, MPI.SUM
    Barrier()
    total = 0.0
    for i in range(warmup + iters):
        t0 = Wtime()
        Allreduce(smsg, rmsg, SUM)
        t1 = Wtime()
        if i >= warmup:
            total += t1 - t0
        Barrier()
    if count and (r.f[0] != nranks or r.f[count - 1] != nranks):
        print(f"osu_mpi4py: rank {comm.Get_rank()}: wrong result {r.f[0]} (expected {nranks})",
              file=sys.stderr)
        comm.Abort(1)
    lat = total * 1e6 / iters
    mn = comm.reduce(lat, op=MPI.MIN, root=0)
    mx = comm.reduce(lat, op=MPI.MAX, root=0)
    sm = comm.reduce(lat, op=MPI.SUM, root=0)
    if comm.Get_rank() != 0:
        return None, {}
    return sm / nranks, {"min": round(mn, 4), "max": round(mx, 4)}


class Rma:
    """osu_{put,get,acc}_latency as bench/native/osu_rma.c: a Win.Allocate window per rank; rank 0 locks
    rank 1 (shared) once per size and times put/get/float32-sum-accumulate + Flush(1); rank 1 waits in
    Barrier. Latency = elapsed / iters (a whole operation)."""

    def __init__(self, op):
        self.op, self.win = op, None

    def __call__(self, MPI, comm, s, r, size, iters, warmup):
        if self.win is None:
            self.win = MPI.Win.Allocate(max(16, len(s.b)), 1, comm=comm)
        win, Wtime = self.win, MPI.Wtime
        if self.op == "put":
            buf, call = s.b[:size], win.Put
        elif self.op == "get":
            buf, call = s.b[:size], win.Get
        else:
            buf, call = [s.f[:size // 4], MPI.FLOAT], lambda b, t: win.Accumulate(b, t, op=MPI.SUM)
        Flush = win.Flush
        elapsed = 0.0
        comm.Barrier()
        if comm.Get_rank() == 0:
            win.Lock(1, MPI.LOCK_SHARED)
            t0 = Wtime()
            for i in range(warmup + iters):
                if i == warmup:
                    t0 = Wtime()
                call(buf, 1)
                Flush(1)
            elapsed = Wtime() - t0
            win.Unlock(1)
        comm.Barrier()
        return elapsed * 1e6 / iters, {}


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    kind = args.buffer
    if args.hugepages:
        kind = "mmap"
    elif kind in ("auto", "numpy"):
        try:
            import numpy  # noqa: F401
            kind = "numpy"
        except ImportError:
            if args.buffer == "numpy":
                if launcher_rank() == 0:
                    print("osu_mpi4py: --buffer numpy but numpy is not installed", file=sys.stderr)
                return 2
            kind = "bytearray"

    try:
        import mpi4py
    except ImportError:
        if launcher_rank() == 0:
            print(f"osu_mpi4py: mpi4py is not installed for {sys.executable}", file=sys.stderr)
        return 2
    if args.thread_level:
        mpi4py.rc.thread_level = args.thread_level
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, nranks = comm.Get_rank(), comm.Get_size()
    if args.bench in ("latency", "bw", "bw_persistent", "put_latency", "get_latency", "acc_latency") and nranks != 2:
        if rank == 0:
            print(f"osu_mpi4py: {args.bench} needs exactly 2 ranks, got {nranks}", file=sys.stderr)
        return 2
    provided = MPI.Query_thread()
    thread = {MPI.THREAD_SINGLE: "single", MPI.THREAD_FUNNELED: "funneled",
              MPI.THREAD_SERIALIZED: "serialized"}.get(provided, "multiple")
    if args.thread_level and provided < getattr(MPI, "THREAD_" + args.thread_level.upper()) and rank == 0:
        print(f"osu_mpi4py: warning: requested thread level {args.thread_level}, got {thread}",
              file=sys.stderr)

    nbytes = max(args.sizes)
    s, r = Buffer(nbytes, kind, args.hugepages), Buffer(nbytes, kind, args.hugepages)
    pages = pages_of(comm, [s, r], args)
    run = {"latency": latency, "bw": bw, "allreduce": allreduce, "bw_persistent": bw_persistent,
           "mbw_mr": mbw_mr, "put_latency": Rma("put"), "get_latency": Rma("get"),
           "acc_latency": Rma("acc")}[args.bench]
    unit = {"bw": "MB/s", "bw_persistent": "MB/s", "mbw_mr": "msg/s"}.get(args.bench, "us")
    # Records are labelled by benchmark as the harness reads them: the persistent window is a bw row.
    bench, impl = ("bw", "mpi4py-persistent") if args.bench == "bw_persistent" else (args.bench, "mpi4py")

    for size in args.sizes:
        iters, warmup = iters_for(args, size)
        if args.bench != "allreduce":
            s.fill(ord("a"), size)
            r.fill(ord("b"), size)
        value, extra = run(MPI, comm, s, r, size, iters, warmup)
        if rank == 0:
            out = {"bench": bench, "impl": impl, "size": size, "iters": iters,
                   "warmup": warmup, "value": round(value, 4), "unit": unit, "pages": pages,
                   "ranks": nranks, "thread": thread, **extra, "buffer": kind}
            sys.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")
            sys.stdout.flush()
    if isinstance(run, Rma) and run.win is not None:
        run.win.Free()
    return 0


if __name__ == "__main__":
    sys.exit(main())
