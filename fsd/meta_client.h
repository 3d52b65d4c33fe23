// Typed calls to scalefs-meta. Every call waits for a meta that is
// (re)starting, up to --meta_timeout_ms, but a call that failed after it was
// sent is not retried: it may have been applied, so the caller gets the error.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/meta.grpc.pb.h"

namespace scalefs {

class MetaClient {
 public:
  // timeout_ms <= 0 takes --meta_timeout_ms.
  explicit MetaClient(const std::string& address, int timeout_ms = 0);

  const std::string& address() const { return address_; }

  // Fails fast (no waiting) unless meta answers within timeout_ms.
  Status Ping(int timeout_ms);

  Result<meta::AttrReply> Lookup(uint64_t parent, const std::string& name);
  Result<meta::AttrReply> GetAttr(uint64_t ino);
  Result<meta::AttrReply> SetAttr(const meta::SetAttrRequest& req);
  Result<meta::AttrReply> MakeNode(const meta::MakeNodeRequest& req);
  Result<meta::AttrReply> Link(uint64_t ino, uint64_t new_parent, const std::string& new_name);
  // `parent_out`, when given, receives the parent's attr after the change.
  Status Unlink(uint64_t parent, const std::string& name, bool directory,
                meta::Attr* parent_out = nullptr);
  Status Rename(uint64_t parent, const std::string& name, uint64_t new_parent,
                const std::string& new_name, uint32_t flags);
  Result<std::string> ReadLink(uint64_t ino);
  // All entries of a directory, paging through ReadDir.
  // The entries in name order, at most max_entries of them.
  // Regular files of 1 to extents_max_size bytes come with their extent maps.
  Result<std::vector<meta::DirEntry>> ReadDirAll(uint64_t ino, size_t max_entries = SIZE_MAX,
                                                 uint64_t extents_max_size = 0);
  Status SetXattr(uint64_t ino, const std::string& name, const std::string& value,
                  uint32_t flags, bool acl_kill_sgid = false);
  Result<std::string> GetXattr(uint64_t ino, const std::string& name);
  Result<std::vector<std::string>> ListXattr(uint64_t ino);
  Status RemoveXattr(uint64_t ino, const std::string& name);
  Result<meta::StatFsReply> StatFs();
  Result<meta::ExtentsReply> Allocate(uint64_t ino, uint64_t offset, uint64_t length,
                                      bool set_size);
  Result<meta::ExtentsReply> GetExtents(uint64_t ino, uint64_t offset, uint64_t length);
  Result<meta::AttrReply> Commit(const meta::CommitRequest& req);
  Status Trim(const meta::TrimRequest& req);
  Result<meta::Pair> PairAdd(const std::string& name, const std::string& a,
                             const std::string& b);
  Result<std::vector<meta::Pair>> PairList();
  Result<meta::FsckReply> Fsck();

 private:
  template <typename Fn>
  Status Call(const char* what, Fn&& fn, int timeout_ms = 0);

  std::string address_;
  int timeout_ms_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<meta::Meta::Stub> stub_;
};

}  // namespace scalefs
