// Command-line arguments of `scalefs mount` and of the `mount.scalefs`
// helper that mount(8) runs, turned into what the mount needs. Pure parsing.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace scalefs {

struct MountOptions {
  std::string meta;        // as given; "-" means the resolved default
  std::string source;      // the mount source as given (fstab's first field)
  std::string mountpoint;
  bool foreground = false;
  bool fake = false;       // mount -f: do everything but mount
  double attr_timeout = 1.0;
  double entry_timeout = 1.0;
  // Options for libfuse / the kernel mount (allow_other, ro, nosuid, ...).
  std::vector<std::string> fuse_options;
  // mount(8) and fstab options that mean nothing to a FUSE mount.
  std::vector<std::string> ignored;
};

// One "-o" value: comma separated options, added to `out`.
Status ParseMountOptionString(const std::string& opts, MountOptions* out);

// `scalefs mount META MOUNTPOINT [-o opts] [-f]` (helper = false) or
// `mount.scalefs META MOUNTPOINT [-o opts] [-s] [-n] [-v] [-f]` (helper = true,
// where -f means fake, as mount(8) passes it).
Status ParseMountArgs(const std::vector<std::string>& args, bool helper, MountOptions* out);

// --prefer_member: "a" -> 0, "b" -> 1, "auto" -> -1 (the region's sequencer).
Status ParsePreferMember(const std::string& value, int* member);

// The -o value handed to libfuse: default_permissions, fsname, subtype and
// the pass-through options. fsname is the source as given ("-": the meta
// address resolved), so /proc/self/mountinfo shows what fstab says and
// `mount -a` knows the line is mounted.
std::string FuseOptionString(const MountOptions& opts, const std::string& meta_address);

}  // namespace scalefs
