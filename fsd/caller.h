// What fsd must know of the process behind a FUSE request that the request
// itself does not say: its supplementary groups and capabilities, read from
// /proc as the kernel reads the task's credentials.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/request_caller.h"

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

namespace scalefs {

// The Groups: and CapEff: lines of a /proc/<pid>/status text.
struct CallerCredentials {
  std::vector<uint32_t> groups;
  uint64_t effective_caps = 0;
};
CallerCredentials ParseProcStatus(std::string_view status);

// Whether the caller of req is in group gid (its fsgid or a supplementary
// group) or holds CAP_FSETID: then it keeps a file's setgid bit when it sets
// the file's access ACL, as the kernel's in_group_or_capable. libfuse 3.14
// does not pass the kernel's FUSE_SETXATTR_ACL_KILL_SGID on, so fsd asks
// itself. A caller gone meanwhile counts as neither: the bit is cleared.
bool InGroupOrCapable(fuse_req_t req, uint32_t gid);

// The caller of the FUSE request this thread serves, for the length of one
// operation (fuse_op_timing.cc wraps every operation in one), so each meta
// call made on its behalf names it (MetaClient); none on fsd's own threads.
class RequestCallerScope {
 public:
  explicit RequestCallerScope(fuse_req_t req);
  ~RequestCallerScope();
  RequestCallerScope(const RequestCallerScope&) = delete;
  RequestCallerScope& operator=(const RequestCallerScope&) = delete;

 private:
  std::optional<RequestCaller> outer_;
};
std::optional<RequestCaller> CurrentRequestCaller();

}  // namespace scalefs
