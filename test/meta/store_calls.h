// The store's mutations called with plain arguments and answering values,
// the shapes most meta tests read best in. Each builds the request, runs the
// real operation (no session: nothing is replayed) and unpacks the reply.
#pragma once

#include <string>
#include <vector>

#include "meta/meta_store.h"

namespace scalefs::meta::testing {

inline InodeRecord RecordOf(const AttrReply& r) {
  InodeRecord rec;
  *rec.mutable_attr() = r.attr();
  *rec.mutable_layout() = r.layout();
  return rec;
}

inline Result<InodeRecord> MakeNode(MetaStore* s, const MakeNodeRequest& req,
                                    Attr* parent_out = nullptr,
                                    std::vector<Extent>* prealloc_out = nullptr) {
  AttrReply r;
  Status st = s->MakeNode(req, &r);
  if (!st.ok()) return st;
  if (parent_out != nullptr) *parent_out = r.parent_attr();
  if (prealloc_out != nullptr) prealloc_out->assign(r.extents().begin(), r.extents().end());
  return RecordOf(r);
}

inline Result<InodeRecord> Link(MetaStore* s, uint64_t ino, uint64_t new_parent,
                                const std::string& new_name) {
  LinkRequest req;
  req.set_ino(ino);
  req.set_new_parent(new_parent);
  req.set_new_name(new_name);
  AttrReply r;
  Status st = s->Link(req, &r);
  if (!st.ok()) return st;
  return RecordOf(r);
}

inline Status Unlink(MetaStore* s, uint64_t parent, const std::string& name, bool directory,
                     Attr* parent_out = nullptr) {
  UnlinkRequest req;
  req.set_parent(parent);
  req.set_name(name);
  req.set_directory(directory);
  AttrReply r;
  Status st = s->Unlink(req, &r);
  if (st.ok() && parent_out != nullptr) *parent_out = r.parent_attr();
  return st;
}

inline Status Rename(MetaStore* s, const RenameRequest& req) {
  Empty e;
  return s->Rename(req, &e);
}

inline Result<InodeRecord> SetAttr(MetaStore* s, const SetAttrRequest& req) {
  AttrReply r;
  Status st = s->SetAttr(req, &r);
  if (!st.ok()) return st;
  return RecordOf(r);
}

inline Status SetXattr(MetaStore* s, uint64_t ino, const std::string& name,
                       const std::string& value, uint32_t flags, bool acl_kill_sgid = false) {
  SetXattrRequest req;
  req.set_acl_kill_sgid(acl_kill_sgid);
  req.set_ino(ino);
  req.set_name(name);
  req.set_value(value);
  req.set_flags(flags);
  Empty e;
  return s->SetXattr(req, &e);
}

inline Status RemoveXattr(MetaStore* s, uint64_t ino, const std::string& name) {
  XattrRequest req;
  req.set_ino(ino);
  req.set_name(name);
  Empty e;
  return s->RemoveXattr(req, &e);
}

inline Result<ExtentList> Allocate(MetaStore* s, uint64_t ino, uint64_t offset, uint64_t length,
                                   bool set_size) {
  AllocateRequest req;
  req.set_ino(ino);
  req.set_offset(offset);
  req.set_length(length);
  req.set_set_size(set_size);
  ExtentsReply r;
  Status st = s->Allocate(req, &r);
  if (!st.ok()) return st;
  return ExtentList{std::vector<Extent>(r.extents().begin(), r.extents().end()), r.attr()};
}

inline Result<InodeRecord> Commit(MetaStore* s, uint64_t ino,
                                  const std::vector<ByteRange>& written, uint64_t new_size,
                                  int64_t mtime_ns, const std::vector<ByteRange>& trim = {},
                                  uint64_t trim_gen = 0) {
  CommitRequest req;
  req.set_ino(ino);
  for (const ByteRange& b : written) *req.add_written() = b;
  req.set_new_size(new_size);
  req.set_mtime_ns(mtime_ns);
  for (const ByteRange& b : trim) *req.add_trim() = b;
  req.set_alloc_gen(trim_gen);
  AttrReply r;
  Status st = s->Commit(req, &r);
  if (!st.ok()) return st;
  return RecordOf(r);
}

// Release without a session: only gives the space back.
inline Status Trim(MetaStore* s, const std::vector<FileRelease>& files) {
  ReleaseRequest req;
  for (const FileRelease& f : files) *req.add_files() = f;
  return s->Release(req);
}

}  // namespace scalefs::meta::testing
