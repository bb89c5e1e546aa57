// MPI error codes become instances of the JavaScript MpiError class (lib/core/errors.ts), created while the
// calling JavaScript frame is live so the stack points at the user's call.
#pragma once

#include <mpi.h>
#include <napi.h>

#include <string>

namespace mpi4node {

// "ERR_TRUNCATE" for MPI_ERR_TRUNCATE and so on; "ERR_UNKNOWN_CLASS_<n>" past the standard table.
std::string ErrorClassName(int errorClass);
std::string ErrorString(int code);

// Error codes of the library itself, outside MPI's range, for conditions MPI never sees.
constexpr int kErrNotInitialized = -1001;
constexpr int kErrThreadLevel = -1002;
constexpr int kErrCommTableFull = -1003;
constexpr int kErrBadHandle = -1004;
constexpr int kErrRequestActive = -1005;
constexpr int kErrNoPersistentColl = -1006;
constexpr int kErrRequestFailed = -1007;

}  // namespace mpi4node
