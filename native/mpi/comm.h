// Communicators the bindings make (dup, split, graph topologies) reach JavaScript through one path.
#pragma once

#include <mpi.h>
#include <napi.h>

#include "core/args.h"

namespace mpi4node {

// Registers `comm`, just made, with a private duplicate for the library's own traffic, and returns
// their handles [user, internal]; null for MPI_COMM_NULL (a split that left this rank out). On failure
// frees what it made and throws the MpiError.
Napi::Value RegisterComm(const Args& a, MPI_Comm comm);

}  // namespace mpi4node
