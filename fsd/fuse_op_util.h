// What the FUSE operations (fsd/*_ops.cc) share: the per-handle state of an
// open file and the small helpers every op uses. Internal to fsd.
#pragma once

#include <glog/logging.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/layout.h"
#include "fsd/fuse_ops.h"

namespace scalefs::fuse_op {

// The per-handle state behind fuse_file_info::fh.
struct FileHandle {
  FileHandle(std::shared_ptr<OpenFile> f, bool w) : file(std::move(f)), writer(w) {}
  std::shared_ptr<OpenFile> file;
  bool writer = false;  // holds FillGate::BeginWrite until release
  // The whole file as read at open (EarlyRead), good while file->changes()
  // is still early_changes; the first read takes it (TakeEarly).
  std::mutex early_mu;
  std::optional<std::string> early;
  uint64_t early_changes = 0;
  // The POSIX lock owners that locked through this handle: an OFD lock's
  // owner is the open file, whose locks go when it is released.
  std::mutex owners_mu;
  std::set<uint64_t> lock_owners;
};

inline ScalefsFuse* Self(fuse_req_t req) {
  return static_cast<ScalefsFuse*>(fuse_req_userdata(req));
}
inline FileHandle* File(fuse_file_info* fi) { return reinterpret_cast<FileHandle*>(fi->fh); }

inline void ReplyError(fuse_req_t req, const Status& s) {
  if (s.code() == Status::Code::kNotFound) {
    VLOG(1) << s.ToString();
  } else {
    LOG(WARNING) << s.ToString();
  }
  fuse_reply_err(req, s.errno_value());
}

inline bool NameTooLong(fuse_req_t req, const char* name) {
  if (strlen(name) <= kMaxNameLength) return false;
  fuse_reply_err(req, ENAMETOOLONG);
  return true;
}

}  // namespace scalefs::fuse_op
