// MPI objects that JavaScript holds by a small integer handle (info objects, groups, files): one table
// per kind and per environment, owned by the Addon. lib/ frees each object once through its owner (an
// Info, a Group, a File), so a handle here is either live or free; a free or unknown one reads as the
// kind's null handle, which the Args readers turn into ERR_BAD_HANDLE.
#pragma once

#include <cstdint>
#include <vector>

#include "core/slots.h"

namespace mpi4node {

template <typename H>
class HandleTable {
 public:
  explicit HandleTable(H null) : null_(null) {}

  int Add(H h) {
    const int i = TakeIndex(items_, freed_);
    items_[i] = h;
    return i;
  }
  H Get(int i) const { return i >= 0 && i < static_cast<int>(items_.size()) ? items_[i] : null_; }
  // The object at `i`, now removed (its handle free for reuse); the null handle when there was none.
  H Take(int i) {
    const H h = Get(i);
    if (h != null_) {
      items_[i] = null_;
      freed_.push_back(i);
    }
    return h;
  }
  H null() const { return null_; }

 private:
  H null_;
  std::vector<H> items_;
  std::vector<int> freed_;
};

}  // namespace mpi4node
