#include "fsd/caller.h"

#include <linux/capability.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace scalefs {

CallerCredentials ParseProcStatus(std::string_view status) {
  CallerCredentials out;
  size_t pos = 0;
  while (pos < status.size()) {
    size_t end = status.find('\n', pos);
    if (end == std::string_view::npos) end = status.size();
    const std::string line(status.substr(pos, end - pos));
    pos = end + 1;
    if (line.rfind("Groups:", 0) == 0) {
      const char* p = line.c_str() + 7;
      while (true) {
        char* next = nullptr;
        const unsigned long g = std::strtoul(p, &next, 10);
        if (next == p) break;
        out.groups.push_back(static_cast<uint32_t>(g));
        p = next;
      }
    } else if (line.rfind("CapEff:", 0) == 0) {
      out.effective_caps = std::strtoull(line.c_str() + 7, nullptr, 16);
    }
  }
  return out;
}

bool InGroupOrCapable(fuse_req_t req, uint32_t gid) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  if (ctx->gid == gid) return true;
  // ctx->pid is the calling thread; /proc answers for a thread id too.
  std::ifstream f("/proc/" + std::to_string(ctx->pid) + "/status");
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const CallerCredentials c = ParseProcStatus(text);
  if (c.effective_caps & (uint64_t{1} << CAP_FSETID)) return true;
  return std::find(c.groups.begin(), c.groups.end(), gid) != c.groups.end();
}

namespace {
thread_local std::optional<RequestCaller> current_caller;
}  // namespace

RequestCallerScope::RequestCallerScope(fuse_req_t req) : outer_(current_caller) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  current_caller = RequestCaller{ctx->uid, ctx->gid};
}

RequestCallerScope::~RequestCallerScope() { current_caller = outer_; }

std::optional<RequestCaller> CurrentRequestCaller() { return current_caller; }

}  // namespace scalefs
