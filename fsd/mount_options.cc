#include "fsd/mount_options.h"

#include <cstdlib>
#include <set>

namespace scalefs {

namespace {
const std::set<std::string>& PassThrough() {
  static const std::set<std::string> s = {"allow_other", "allow_root", "auto_unmount", "ro",
                                          "rw",          "nosuid",     "nodev",        "noexec",
                                          "noatime",     "async",      "dirsync"};
  return s;
}
const std::set<std::string>& Ignored() {
  static const std::set<std::string> s = {
      "defaults", "auto",  "noauto", "user", "users", "nouser", "owner", "group", "_netdev",
      "nofail",   "suid",  "dev",    "exec", "atime", "relatime", "strictatime", "lazytime",
      "nolazytime", "sync", "default_permissions", "loop"};
  return s;
}

Status ParseSeconds(const std::string& key, const std::string& value, double* out) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || end == nullptr || *end != '\0' || v < 0) {
    return Status::Invalid("bad value for " + key + ": '" + value + "'");
  }
  *out = v;
  return Status::OK();
}
}  // namespace

Status ParseMountOptionString(const std::string& opts, MountOptions* out) {
  size_t pos = 0;
  while (pos <= opts.size()) {
    size_t comma = opts.find(',', pos);
    if (comma == std::string::npos) comma = opts.size();
    const std::string opt = opts.substr(pos, comma - pos);
    pos = comma + 1;
    if (opt.empty()) continue;
    const size_t eq = opt.find('=');
    const std::string key = opt.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
    if (key == "attr_timeout") {
      Status s = ParseSeconds(key, value, &out->attr_timeout);
      if (!s.ok()) return s;
    } else if (key == "entry_timeout") {
      Status s = ParseSeconds(key, value, &out->entry_timeout);
      if (!s.ok()) return s;
    } else if (PassThrough().count(opt) != 0) {
      out->fuse_options.push_back(opt);
    } else if (Ignored().count(key) != 0 || key.rfind("x-", 0) == 0 || key == "comment" ||
               key == "fsname" || key == "subtype") {
      out->ignored.push_back(opt);
    } else {
      return Status::Invalid("unknown mount option '" + opt + "'");
    }
  }
  return Status::OK();
}

Status ParseMountArgs(const std::vector<std::string>& args, bool helper, MountOptions* out) {
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-o") {
      if (i + 1 >= args.size()) return Status::Invalid("-o needs a value");
      Status s = ParseMountOptionString(args[++i], out);
      if (!s.ok()) return s;
    } else if (a.size() > 2 && a.rfind("-o", 0) == 0) {
      Status s = ParseMountOptionString(a.substr(2), out);
      if (!s.ok()) return s;
    } else if (a == "-f") {
      (helper ? out->fake : out->foreground) = true;
    } else if (helper && (a == "-s" || a == "-n" || a == "-v")) {
      // sloppy, no mtab, verbose: nothing to do
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      return Status::Invalid("unknown argument '" + a + "'");
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) return Status::Invalid("expected META and MOUNTPOINT");
  out->meta = out->source = positional[0];
  // fstab style "scalefs#ADDR" names the meta address too.
  if (out->meta.rfind("scalefs#", 0) == 0) out->meta = out->meta.substr(8);
  out->mountpoint = positional[1];
  if (out->meta.empty() || out->mountpoint.empty()) {
    return Status::Invalid("expected META and MOUNTPOINT");
  }
  return Status::OK();
}

Status ParsePreferMember(const std::string& value, int* member) {
  if (value == "a" || value == "A") {
    *member = 0;
  } else if (value == "b" || value == "B") {
    *member = 1;
  } else if (value == "auto") {
    *member = -1;
  } else {
    return Status::Invalid("--prefer_member wants a, b or auto, not '" + value + "'");
  }
  return Status::OK();
}

std::string FuseOptionString(const MountOptions& opts, const std::string& meta_address) {
  const std::string& source = opts.source.empty() || opts.source == "-" ? meta_address : opts.source;
  std::string s = "default_permissions,fsname=" + source + ",subtype=scalefs";
  for (const std::string& o : opts.fuse_options) s += "," + o;
  return s;
}

}  // namespace scalefs
