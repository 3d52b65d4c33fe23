#include "meta/subtree_view.h"

#include <sys/stat.h>

#include "meta/keys.h"

namespace scalefs::meta {

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsInodeField(const FieldDescriptor* f) {
  if (f->type() != FieldDescriptor::TYPE_UINT64) return false;
  const std::string& n = f->name();
  return n == "ino" || n == "parent" || n == "new_parent" || n == "open_inos";
}

}  // namespace

Status SubtreeView::MapInode(uint64_t* ino) const {
  if (*ino == 0) return Status::OK();  // "none" in the calls that allow it
  if (*ino == kRootIno) {
    *ino = root_;
    return Status::OK();
  }
  // Up the parents until the subdirectory (inside) or the real root (not).
  uint64_t x = *ino;
  for (int depth = 0; depth < 4096; ++depth) {
    if (x == root_) return Status::OK();
    if (x == kRootIno || x == 0) break;
    Result<InodeRecord> r = store_->GetAttr(x);
    if (!r.ok()) return r.status();
    x = r->attr().parent();
  }
  return Status(Status::Code::kAccess, "inode " + std::to_string(*ino) +
                                           " is outside this client's subdirectory " + path_);
}

Status SubtreeView::MapRequest(Message* m) const {
  const Reflection* r = m->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          Status s = MapRequest(r->MutableRepeatedMessage(m, f, i));
          if (!s.ok()) return s;
        }
      } else {
        Status s = MapRequest(r->MutableMessage(m, f));
        if (!s.ok()) return s;
      }
      continue;
    }
    if (!IsInodeField(f)) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(*m, f); ++i) {
        uint64_t v = r->GetRepeatedUInt64(*m, f, i);
        Status s = MapInode(&v);
        if (!s.ok()) return s;
        r->SetRepeatedUInt64(m, f, i, v);
      }
    } else {
      uint64_t v = r->GetUInt64(*m, f);
      Status s = MapInode(&v);
      if (!s.ok()) return s;
      r->SetUInt64(m, f, v);
    }
  }
  // ".." of the subdirectory is the subdirectory, as ".." of "/" is "/".
  const FieldDescriptor* name = m->GetDescriptor()->FindFieldByName("name");
  const FieldDescriptor* parent = m->GetDescriptor()->FindFieldByName("parent");
  if (name != nullptr && parent != nullptr && name->type() == FieldDescriptor::TYPE_STRING &&
      parent->type() == FieldDescriptor::TYPE_UINT64 && r->GetString(*m, name) == ".." &&
      r->GetUInt64(*m, parent) == root_) {
    r->SetString(m, name, ".");
  }
  return Status::OK();
}

void SubtreeView::MapReply(Message* m) const {
  const Reflection* r = m->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  const bool is_attr = m->GetDescriptor() == Attr::descriptor();
  const bool is_lock = m->GetDescriptor() == FileLock::descriptor();
  for (const FieldDescriptor* f : fields) {
    if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) MapReply(r->MutableRepeatedMessage(m, f, i));
      } else {
        MapReply(r->MutableMessage(m, f));
      }
    }
  }
  if (is_attr) {
    Attr* a = static_cast<Attr*>(m);
    if (a->ino() == root_) {
      a->set_ino(kRootIno);
      a->set_parent(kRootIno);
    } else if (a->parent() == root_) {
      a->set_parent(kRootIno);
    }
  }
  if (is_lock) {
    FileLock* l = static_cast<FileLock*>(m);
    if (l->ino() == root_) l->set_ino(kRootIno);
  }
}

Result<SubtreeView> SubtreeViews::For(const std::string& path) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = roots_.find(path);
    if (it != roots_.end() && now - it->second.resolved < std::chrono::seconds(2)) {
      return SubtreeView(store_, it->second.ino, path);
    }
  }
  uint64_t ino = kRootIno;
  size_t start = 1;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    Result<InodeRecord> r = store_->Lookup(ino, path.substr(start, end - start));
    if (!r.ok()) return r.status().Annotate("this client's subdirectory " + path);
    ino = r->attr().ino();
    start = end + 1;
  }
  Result<InodeRecord> root = store_->GetAttr(ino);
  if (!root.ok()) return root.status();
  if (!S_ISDIR(root->attr().mode())) {
    return Status::NotDir("this client's subdirectory " + path + " is not a directory");
  }
  std::lock_guard<std::mutex> l(mu_);
  roots_[path] = Entry{ino, now};
  return SubtreeView(store_, ino, path);
}

}  // namespace scalefs::meta
