// Atomic file writes: the bytes go to a temporary file beside the target, are flushed to disk,
// and the temporary file is renamed over the target. A reader (or a crash, or Ctrl-C) sees the
// old file or the new one, never a truncated mix. Used for checkpoints, reports and figures.
#pragma once

#include <string>
#include <string_view>

namespace weft::io {

// Throws weft::Error naming the path when any step fails; the target is then untouched.
// In a data-parallel run only rank 0 writes (engine/distributed/communicator.h): on the other
// ranks, which compute the same files, this returns without writing, so N ranks sharing one
// run folder never race on it.
void write_file_atomic(const std::string& path, std::string_view bytes);

// The whole file, or weft::Error naming the path.
std::string read_file(const std::string& path);

}  // namespace weft::io
