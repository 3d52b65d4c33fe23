// FUSE operations on directory handles (a listing taken at opendir), and
// statfs.

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/layout.h"
#include "fsd/fuse_op_handlers.h"
#include "fsd/fuse_op_util.h"

namespace scalefs::fuse_op {

namespace {

// A directory listing taken at opendir, so offsets stay stable.
struct DirHandle {
  meta::Attr self;
  uint64_t parent = 1;
  std::vector<meta::DirEntry> entries;
};

DirHandle* Dir(fuse_file_info* fi) { return reinterpret_cast<DirHandle*>(fi->fh); }

}  // namespace

void OpOpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  MetaClient* meta = Self(req)->meta();
  auto attr = meta->GetAttr(ino);
  if (!attr.ok()) return ReplyError(req, attr.status());
  if (!S_ISDIR(attr->attr().mode())) return (void)fuse_reply_err(req, ENOTDIR);
  auto entries = meta->ReadDirAll(ino);
  if (!entries.ok()) return ReplyError(req, entries.status());
  auto* d = new DirHandle;
  d->self = attr->attr();
  d->parent = ino == FUSE_ROOT_ID || attr->attr().parent() == 0 ? FUSE_ROOT_ID
                                                                 : attr->attr().parent();
  d->entries = std::move(*entries);
  fi->fh = reinterpret_cast<uint64_t>(d);
  if (fuse_reply_open(req, fi) != 0) delete d;
}

void ReadDir(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  ScalefsFuse* self = Self(req);
  DirHandle* d = Dir(fi);
  std::string buf(size, '\0');
  size_t pos = 0;
  const size_t count = d->entries.size() + 2;
  for (size_t i = static_cast<size_t>(off); i < count; ++i) {
    const char* name;
    meta::Attr attr;
    if (i == 0) {
      name = ".";
      attr = d->self;
    } else if (i == 1) {
      name = "..";
      attr.set_ino(d->parent);
      attr.set_mode(S_IFDIR);
    } else {
      name = d->entries[i - 2].name().c_str();
      attr = d->entries[i - 2].attr();
    }
    size_t n;
    if (plus) {
      fuse_entry_param e = self->ToEntry(attr);
      if (i < 2) {
        // The kernel does not instantiate "." and "..": no attr to cache.
        e.attr_timeout = 0;
        e.entry_timeout = 0;
      }
      n = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, name, &e, i + 1);
    } else {
      struct stat st {};
      st.st_ino = attr.ino();
      st.st_mode = attr.mode();
      n = fuse_add_direntry(req, buf.data() + pos, size - pos, name, &st, i + 1);
    }
    if (n > size - pos) break;
    pos += n;
  }
  fuse_reply_buf(req, buf.data(), pos);
}

void OpReadDir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  ReadDir(req, size, off, fi, false);
}
void OpReadDirPlus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  ReadDir(req, size, off, fi, true);
}

void OpReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete Dir(fi);
  fuse_reply_err(req, 0);
}

void OpFsyncDir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  // Meta syncs every mutation before it answers.
  fuse_reply_err(req, 0);
}

void OpStatFs(fuse_req_t req, fuse_ino_t) {
  auto r = Self(req)->meta()->StatFs();
  if (!r.ok()) return ReplyError(req, r.status());
  const uint64_t bs = r->block_size() ? r->block_size() : kBlockSize;
  struct statvfs st {};
  st.f_bsize = kBlockSize;
  st.f_frsize = kBlockSize;
  st.f_blocks = r->total_blocks() * bs / kBlockSize;
  st.f_bfree = r->free_blocks() * bs / kBlockSize;
  st.f_bavail = st.f_bfree;
  // Inodes are not a limited resource: report as many free as free blocks.
  st.f_ffree = std::max<uint64_t>(st.f_bfree, 1 << 20);
  st.f_files = r->files() + st.f_ffree;
  st.f_favail = st.f_ffree;
  st.f_namemax = kMaxNameLength;
  fuse_reply_statfs(req, &st);
}

}  // namespace scalefs::fuse_op
