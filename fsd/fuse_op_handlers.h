// The FUSE low-level operations of a scalefs mount, one file a concern;
// ScalefsFuse::Ops (fsd/fuse_ops.cc) puts them in the table. Internal to fsd.
#pragma once

#include "fsd/fuse_ops.h"

namespace scalefs::fuse_op {

// fsd/node_ops.cc: names and inodes.
void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name);
void OpForget(fuse_req_t req, fuse_ino_t, uint64_t);
void OpForgetMulti(fuse_req_t req, size_t, fuse_forget_data*);
void OpGetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*);
void OpSetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*);
void OpReadLink(fuse_req_t req, fuse_ino_t ino);
void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name);
void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name);
void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name);
void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags);
void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname);
void OpAccess(fuse_req_t req, fuse_ino_t ino, int mask);

// fsd/file_ops.cc: open files and their data.
void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi);
void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             fuse_file_info* fi);
void OpFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpFsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info* fi);
void OpRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info* fi);

// fsd/dir_ops.cc: directory handles, and statfs.
void OpOpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpReadDir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi);
void OpReadDirPlus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi);
void OpReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi);
void OpFsyncDir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*);
void OpStatFs(fuse_req_t req, fuse_ino_t);

// fsd/xattr_ops.cc: extended attributes (and so POSIX ACLs).
void OpSetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags);
void OpGetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
void OpListXattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void OpRemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name);

// fsd/lock_ops.cc: POSIX, OFD and flock locks.
void OpGetLk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock);
void OpSetLk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock, int sleep);
void OpFlock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op);

}  // namespace scalefs::fuse_op
