#include "core/errors.h"

namespace mpi4node {

namespace {
struct ClassName {
  int cls;
  const char* name;
};

#define C(x) {MPI_##x, #x}
const ClassName kClasses[] = {
    C(SUCCESS),           C(ERR_BUFFER),       C(ERR_COUNT),         C(ERR_TYPE),
    C(ERR_TAG),           C(ERR_COMM),         C(ERR_RANK),          C(ERR_REQUEST),
    C(ERR_ROOT),          C(ERR_GROUP),        C(ERR_OP),            C(ERR_TOPOLOGY),
    C(ERR_DIMS),          C(ERR_ARG),          C(ERR_UNKNOWN),       C(ERR_TRUNCATE),
    C(ERR_OTHER),         C(ERR_INTERN),       C(ERR_IN_STATUS),     C(ERR_PENDING),
    C(ERR_KEYVAL),        C(ERR_NO_MEM),       C(ERR_BASE),          C(ERR_INFO_KEY),
    C(ERR_INFO_VALUE),    C(ERR_INFO_NOKEY),   C(ERR_SPAWN),         C(ERR_PORT),
    C(ERR_SERVICE),       C(ERR_NAME),         C(ERR_WIN),           C(ERR_SIZE),
    C(ERR_DISP),          C(ERR_INFO),         C(ERR_LOCKTYPE),      C(ERR_ASSERT),
    C(ERR_RMA_CONFLICT),  C(ERR_RMA_SYNC),     C(ERR_UNSUPPORTED_DATAREP),
    C(ERR_UNSUPPORTED_OPERATION),              C(ERR_NO_SUCH_FILE),  C(ERR_FILE_EXISTS),
    C(ERR_BAD_FILE),      C(ERR_ACCESS),       C(ERR_NO_SPACE),      C(ERR_QUOTA),
    C(ERR_READ_ONLY),     C(ERR_FILE_IN_USE),  C(ERR_DUP_DATAREP),   C(ERR_CONVERSION),
    C(ERR_IO),            C(ERR_FILE),         C(ERR_AMODE),         C(ERR_RMA_RANGE),
    C(ERR_RMA_ATTACH),    C(ERR_RMA_SHARED),   C(ERR_RMA_FLAVOR),
};
#undef C
}  // namespace

std::string ErrorClassName(int errorClass) {
  switch (errorClass) {
    case kErrNotInitialized: return "ERR_NOT_INITIALIZED";
    case kErrThreadLevel: return "ERR_THREAD_LEVEL";
    case kErrCommTableFull: return "ERR_COMM_TABLE_FULL";
    case kErrBadHandle: return "ERR_BAD_HANDLE";
    case kErrRequestActive: return "ERR_REQUEST_ACTIVE";
    case kErrRequestFailed: return "ERR_REQUEST_FAILED";
    case kErrNoPersistentColl: return "ERR_UNSUPPORTED_OPERATION";
  }
  for (const auto& c : kClasses) {
    if (c.cls == errorClass) return c.name;
  }
  return "ERR_UNKNOWN_CLASS_" + std::to_string(errorClass);
}

std::string ErrorString(int code) {
  switch (code) {
    case kErrNotInitialized:
      return "MPI is not initialized, or was already finalized";
    case kErrThreadLevel:
      return "MPI was initialized on another thread without MPI_THREAD_MULTIPLE; call init({ threadLevel: "
             "'multiple' }) before using MPI from worker threads";
    case kErrCommTableFull:
      return "too many communicators are alive; free some with comm.free()";
    case kErrBadHandle:
      return "communicator handle is not valid (freed?)";
    case kErrRequestActive:
      return "this persistent request is active: wait for its completion before starting it again";
    case kErrRequestFailed:
      return "this persistent request completed with an error; free it and set up a new one";
    case kErrNoPersistentColl:
      return "this MPI has no persistent collectives (MPI-4 MPI_Allreduce_init, or Open MPI's MPIX_ extension)";
  }
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(buf, len);
}

}  // namespace mpi4node
