// Reduction operations: the op codes lib/coll/ops.ts sends, and the MPI_Ops the library makes itself.
//
// - Counts above INT_MAX travel as one element of a CountedType (core/buffers.h). MPI defines its
//   predefined ops on predefined types only, so each one has a twin made with MPI_Op_create that
//   applies it with MPI_Reduce_local over the derived type's base elements (BigMPI's scheme). The
//   twin is plain C, so it also works when MPI applies it later, while progressing a Promise form.
// - Sums of 8- and 16-bit integers use an op of the library's that wraps around like C unsigned
//   arithmetic: Open MPI 4.1's vectorised (op/avx) sums of these types saturate instead, but only in
//   whole vectors, so the result of an overflow would depend on the element's position
//   (open-mpi/ompi#8045, closed as "wontfix").
// - MIN and MAX of unsigned integers use ops of the library's where the MPI gets them wrong (MPICH 4.0.2
//   compares them as signed); found out by asking the MPI once, see ops.cc.
// - float16 and bfloat16 have no MPI type: they travel as MPI_UINT16_T and sum/prod/min/max are ops of
//   the library's (mpi/half.h says how they round). min and max are deterministic where a C
//   comparison is not: a NaN on any rank wins, and -0 is below +0.
// - A user-defined op calls a JavaScript function. MPI passes an op's C function no user data, so the
//   function is found through a thread-local record that JsOpScope sets around one blocking MPI call:
//   MPI applies the op only inside that call, on this thread, while the caller's JavaScript frame is
//   live. That is also why Promise forms cannot take one (lib/ rejects them before MPI sees them).
#pragma once

#include <mpi.h>
#include <node_api.h>

#include <cstddef>

namespace mpi4node {

// Must match lib/coll/ops.ts. An op argument is `code | half << 8`, half a HalfKind (mpi/half.h) saying
// how MPI_UINT16_T elements are read. kReplace and kNoOp exist for one-sided accumulates only.
enum OpCode : int { kSum, kProd, kMin, kMax, kLand, kLor, kLxor, kBand, kBor, kBxor, kOpCount, kReplace = 11, kNoOp };
constexpr int kHalfShift = 8;

// The op MPI is given for op argument `op` (code and half kind) over elements of the predefined type
// `base`; `derived` when they travel as CountedType elements (counts above INT_MAX). Library ops are
// made on first use (MPI must be initialised). MPI_OP_NULL for a code out of range, or a half kind on
// anything but MPI_UINT16_T.
MPI_Op OpFor(int op, MPI_Datatype base, bool derived);
// MPI's own predefined op for `code` (kReplace and kNoOp included), for the one-sided accumulates,
// which take nothing else. MPI_OP_NULL for a code out of range.
MPI_Op PredefinedOp(int code);
// True when this MPI's MPI_SUM saturates 8- and 16-bit integers in whole vectors (Open MPI 4.1's op/avx,
// open-mpi/ompi#8045): collectives use the library's wrapping sum, but one-sided accumulates can only
// take MPI's ops, so lib/rma refuses those sums. Asked of the MPI once, with MPI_Reduce_local.
bool NarrowSumSaturates();
// True when this MPI's MIN/MAX are wrong on unsigned integers (MPICH 4.0.2) and OpFor gives the
// library's own instead.
bool UnsignedMinMaxReplaced();
// The op whose C function calls the JavaScript function of the innermost JsOpScope on this thread.
MPI_Op JsOp(bool commutative);

// Makes `fn` the function JsOp calls on this thread until destroyed. MPI hands the function
// (invec, inoutvec) as typed arrays of `type` that are copies: the function writes its result into
// inoutvec, which is copied back. An exception stops further calls (MPI still completes the
// operation, so every rank leaves the collective); the caller rethrows it after the MPI call.
class JsOpScope {
 public:
  JsOpScope(napi_env env, napi_value fn, napi_typedarray_type type, size_t elemSize);
  ~JsOpScope();
  JsOpScope(const JsOpScope&) = delete;
  JsOpScope& operator=(const JsOpScope&) = delete;

  // The exception the function threw, or nullptr.
  napi_value exception() const { return exception_; }

 private:
  friend void CallJsOp(void* in, void* inout, int* len, MPI_Datatype* dt);
  void Apply(void* in, void* inout, size_t n);

  napi_env env_;
  napi_value fn_;
  napi_typedarray_type type_;
  size_t elemSize_;
  // Scratch buffers the views passed to the function lie in, reused across calls of the op.
  napi_value inBuf_ = nullptr, inoutBuf_ = nullptr;
  void* inData_ = nullptr;
  void* inoutData_ = nullptr;
  size_t capacity_ = 0;
  napi_value exception_ = nullptr;
  JsOpScope* outer_;
};

// The C function of JsOp (MPI_User_function).
void CallJsOp(void* in, void* inout, int* len, MPI_Datatype* dt);

}  // namespace mpi4node
