// Typed-array access for the hot path: one napi_get_typedarray_info call yields the element type,
// length and data pointer (already offset by byteOffset), so a send reads the array's own memory.
#pragma once

#include <mpi.h>
#include <node_api.h>

#include <climits>
#include <cstddef>

namespace mpi4node {

// What an empty typed array stands for: a valid address MPI never reads or writes (it moves 0 bytes).
inline char kNoBytes[1];

struct BufView {
  void* data = nullptr;
  size_t count = 0;  // elements
  MPI_Datatype type = MPI_DATATYPE_NULL;
  size_t elemSize = 0;
};

inline MPI_Datatype MpiTypeOf(napi_typedarray_type t, size_t* size) {
  switch (t) {
    case napi_int8_array: *size = 1; return MPI_INT8_T;
    case napi_uint8_array: *size = 1; return MPI_UINT8_T;
    case napi_uint8_clamped_array: *size = 1; return MPI_UINT8_T;
    case napi_int16_array: *size = 2; return MPI_INT16_T;
    case napi_uint16_array: *size = 2; return MPI_UINT16_T;
    case napi_int32_array: *size = 4; return MPI_INT32_T;
    case napi_uint32_array: *size = 4; return MPI_UINT32_T;
    case napi_float32_array: *size = 4; return MPI_FLOAT;
    case napi_float64_array: *size = 8; return MPI_DOUBLE;
    case napi_bigint64_array: *size = 8; return MPI_INT64_T;
    case napi_biguint64_array: *size = 8; return MPI_UINT64_T;
    default: *size = 1; return MPI_BYTE;
  }
}

// lib/ guarantees a typed array here (DataView and ArrayBuffer arrive as Uint8Array views).
inline bool GetBuf(napi_env env, napi_value v, BufView* out) {
  napi_typedarray_type t;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, v, &t, &length, &data, nullptr, nullptr) != napi_ok) return false;
  // V8 gives an empty array no memory (a null pointer), and MPICH refuses a null buffer even where it
  // moves no bytes (a neighbour collective with no neighbours): hand it an address that is never read.
  out->data = data != nullptr ? data : static_cast<void*>(kNoBytes);
  out->count = length;
  out->type = MpiTypeOf(t, &out->elemSize);
  return true;
}

// MPI-3 calls take an int count. Above INT_MAX elements the buffer is described as one element of a
// derived type (2^30-element chunks plus a remainder), the scheme BigMPI uses; MPI may free the type
// while an operation using it is still pending, so the destructor can always release it.
class CountedType {
 public:
  CountedType(size_t count, MPI_Datatype base) {
    if (count <= static_cast<size_t>(INT_MAX)) {
      count_ = static_cast<int>(count);
      type_ = base;
      return;
    }
    rc_ = Build(count, base);
    count_ = 1;
    owned_ = rc_ == MPI_SUCCESS;
  }
  ~CountedType() {
    if (owned_) MPI_Type_free(&type_);
  }
  CountedType(const CountedType&) = delete;
  CountedType& operator=(const CountedType&) = delete;

  int rc() const { return rc_; }
  int count() const { return count_; }
  MPI_Datatype type() const { return type_; }

 private:
  int Build(size_t count, MPI_Datatype base) {
    constexpr size_t kChunk = size_t{1} << 30;
    const size_t n = count / kChunk, r = count % kChunk;
    MPI_Datatype chunk, bulk;
    int rc = MPI_Type_contiguous(static_cast<int>(kChunk), base, &chunk);
    if (rc != MPI_SUCCESS) return rc;
    rc = MPI_Type_contiguous(static_cast<int>(n), chunk, &bulk);
    MPI_Type_free(&chunk);
    if (rc != MPI_SUCCESS) return rc;
    if (r == 0) {
      type_ = bulk;
    } else {
      MPI_Datatype rem;
      rc = MPI_Type_contiguous(static_cast<int>(r), base, &rem);
      if (rc != MPI_SUCCESS) {
        MPI_Type_free(&bulk);
        return rc;
      }
      MPI_Aint lb, extent;
      MPI_Type_get_extent(base, &lb, &extent);
      int lens[2] = {1, 1};
      MPI_Aint disps[2] = {0, static_cast<MPI_Aint>(n * kChunk) * extent};
      MPI_Datatype types[2] = {bulk, rem};
      rc = MPI_Type_create_struct(2, lens, disps, types, &type_);
      MPI_Type_free(&bulk);
      MPI_Type_free(&rem);
      if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_Type_commit(&type_);
  }

  int rc_ = MPI_SUCCESS;
  int count_ = 0;
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
  bool owned_ = false;
};

}  // namespace mpi4node
