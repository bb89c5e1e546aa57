// What the send bindings (mpi/p2p.cc, channel/parts.cc) share.
#pragma once

#include <mpi.h>

namespace mpi4node {

// MPI_Send, MPI_Ssend (`sync`), or their nonblocking forms (`nb`), whose request goes to `req`.
inline int SendAs(bool sync, bool nb, const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
                  MPI_Request* req) {
  if (nb) {
    return sync ? MPI_Issend(buf, count, type, dest, tag, comm, req) : MPI_Isend(buf, count, type, dest, tag, comm, req);
  }
  return sync ? MPI_Ssend(buf, count, type, dest, tag, comm) : MPI_Send(buf, count, type, dest, tag, comm);
}

}  // namespace mpi4node
