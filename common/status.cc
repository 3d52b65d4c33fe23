#include "common/status.h"

#include <cstring>

namespace scalefs {

Status Status::FromErrno(int err, std::string context) {
  if (err == 0) err = EIO;
  return Status(static_cast<Code>(err), std::move(context) + ": " + std::strerror(err));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  const char* name = strerrorname_np(errno_value());
  return std::string(name ? name : "E?") + ": " + message_;
}

}  // namespace scalefs
