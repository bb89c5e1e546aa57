// Tables indexed by the small integers handed to JavaScript (engine slots and messages, device buffers,
// GPU operations): a freed index is taken again before the table grows, so indices stay small and a
// table never holds more entries than were ever live at once.
#pragma once

#include <vector>

namespace mpi4node {

// An index of `table` for a new entry: the last one freed (removed from `freed`), else a new
// default-constructed entry at the end.
template <typename T, typename Index>
Index TakeIndex(std::vector<T>& table, std::vector<Index>& freed) {
  if (!freed.empty()) {
    const Index i = freed.back();
    freed.pop_back();
    return i;
  }
  table.emplace_back();
  return static_cast<Index>(table.size() - 1);
}

}  // namespace mpi4node
