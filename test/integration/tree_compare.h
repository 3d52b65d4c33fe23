// Comparing two trees of files, for workload_test: byte for byte, with the
// folder a build ran in taken out of its files (two builds in different
// folders are the same build), and per path what `cp -a` keeps (type, mode,
// links, owner, mtime, symlink target, user xattrs, hard-link identity).
// Each comparison names the first paths that differ and how.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/status.h"

namespace scalefs::test {

inline std::string ErrnoName(int e) {
  const char* n = strerrorname_np(e);
  return n != nullptr ? n : std::to_string(e);
}

// A whole file as a reader sees it: read() until it returns 0, whatever
// stat says.
inline Result<std::string> Slurp(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return Status::FromErrno(e, "read " + path);
    }
    if (n == 0) break;
    out.append(buf, n);
  }
  close(fd);
  return out;
}

// Regular files under `root` by relative path, without those whose path
// starts with one of `skip`.
inline std::map<std::string, std::string> RegularFiles(const std::string& root,
                                                       const std::vector<std::string>& skip) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::end(it); it.increment(ec)) {
    if (!it->is_regular_file() || it->is_symlink()) continue;
    const std::string path = it->path().string();
    const std::string rel = path.substr(root.size() + 1);
    if (std::any_of(skip.begin(), skip.end(),
                    [&](const std::string& p) { return rel.rfind(p, 0) == 0; }))
      continue;
    files[rel] = path;
  }
  return files;
}

// What a build writes of its own folder (Makefiles, libtool's wrapper
// scripts) is the same build in another folder.
inline std::string WithoutFolder(std::string s, const std::string& folder) {
  for (size_t at = s.find(folder); at != std::string::npos; at = s.find(folder, at))
    s.replace(at, folder.size(), "@BUILD@");
  return s;
}

// One build's tree and where it ran (to take that folder out of its files).
struct Tree {
  std::string root;
  std::string built_at;
  std::string label;
};

// Every regular file of `got` against the same path of `want`, byte for
// byte, each with its build folder taken out. *compared counts the files.
inline ::testing::AssertionResult SameFiles(const Tree& want, const Tree& got,
                                            const std::vector<std::string>& skip,
                                            size_t* compared) {
  const auto a = RegularFiles(want.root, skip);
  const auto b = RegularFiles(got.root, skip);
  *compared = 0;
  for (const auto& [rel, path] : a) {
    if (!b.count(rel))
      return ::testing::AssertionFailure()
             << rel << " is in the " << want.label << " but not in the " << got.label;
  }
  for (const auto& [rel, path] : b) {
    if (!a.count(rel))
      return ::testing::AssertionFailure()
             << rel << " is in the " << got.label << " but not in the " << want.label;
    auto x = Slurp(a.at(rel));
    auto y = Slurp(path);
    if (!x.ok() || !y.ok())
      return ::testing::AssertionFailure()
             << rel << ": " << x.status().ToString() << " " << y.status().ToString();
    const std::string wx = WithoutFolder(*x, want.built_at);
    const std::string wy = WithoutFolder(*y, got.built_at);
    if (wx != wy) {
      size_t i = 0;
      while (i < wx.size() && i < wy.size() && wx[i] == wy[i]) ++i;
      return ::testing::AssertionFailure()
             << "first differing file " << rel << ": " << x->size() << " bytes in the "
             << want.label << ", " << y->size() << " bytes in the " << got.label
             << ", first difference at byte " << i << " (of the file with the build folder "
             << "replaced by @BUILD@)";
    }
    ++*compared;
  }
  return ::testing::AssertionSuccess();
}

inline std::string Printable(const std::string& v) {
  std::string out;
  char b[8];
  for (unsigned char c : v) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}

// The user.* xattrs of a path (not following a symlink), sorted.
inline std::string UserXattrs(const std::string& path) {
  std::string names(4096, '\0');
  ssize_t n = llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0) return " xattrs: " + ErrnoName(errno);
  names.resize(n);
  std::vector<std::string> user;
  for (size_t at = 0; at < names.size();) {
    std::string name(names.c_str() + at);
    at += name.size() + 1;
    if (name.rfind("user.", 0) == 0) user.push_back(name);
  }
  std::sort(user.begin(), user.end());
  std::string out;
  for (const std::string& name : user) {
    std::string v(4096, '\0');
    ssize_t len = lgetxattr(path.c_str(), name.c_str(), v.data(), v.size());
    out +=
        " " + name + "=" + (len < 0 ? "<" + ErrnoName(errno) + ">" : Printable(v.substr(0, len)));
  }
  return out;
}

// What cp -a keeps of every path under `root`, one line each: type, mode,
// link count, owner, size and mtime (not of symlinks), a symlink's target,
// the user.* xattrs, and for a hard-linked file the first path of its inode.
inline std::map<std::string, std::string> Manifest(const std::string& root) {
  std::vector<std::string> rels{"."};
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::end(it); it.increment(ec))
    rels.push_back(it->path().string().substr(root.size() + 1));
  std::sort(rels.begin(), rels.end());
  std::map<std::string, std::string> lines;
  std::map<ino_t, std::string> first_of_inode;
  for (const std::string& rel : rels) {
    const std::string path = root + "/" + rel;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) {
      lines[rel] = "lstat: " + ErrnoName(errno);
      continue;
    }
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    std::string line = S_ISREG(st.st_mode)   ? "file"
                       : S_ISDIR(st.st_mode) ? "directory"
                       : S_ISLNK(st.st_mode) ? "symlink"
                                             : "other";
    line += std::string(" mode ") + mode + " links " + std::to_string(st.st_nlink) + " owner " +
            std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
    if (S_ISREG(st.st_mode)) line += " size " + std::to_string(st.st_size);
    if (!S_ISLNK(st.st_mode)) line += " mtime " + std::to_string(st.st_mtim.tv_sec);
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlink(path.c_str(), target, sizeof target);
      line += " -> " + (n < 0 ? "<" + ErrnoName(errno) + ">" : std::string(target, n));
    }
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto [it, fresh] = first_of_inode.emplace(st.st_ino, rel);
      if (!fresh) line += " same inode as " + it->second;
    }
    line += UserXattrs(path);
    lines[rel] = line;
  }
  return lines;
}

inline ::testing::AssertionResult SameManifest(const std::map<std::string, std::string>& want,
                                               const std::string& want_label,
                                               const std::map<std::string, std::string>& got,
                                               const std::string& got_label) {
  if (want.size() < 10) return ::testing::AssertionFailure() << want_label << " is nearly empty";
  std::string first;
  int differ = 0;
  for (const auto& [rel, line] : want) {
    auto it = got.find(rel);
    if (it != got.end() && it->second == line) continue;
    if (differ++ >= 4) continue;
    first += it == got.end()
                 ? "\n" + rel + " is in " + want_label + " (" + line + ") but not in " + got_label
                 : "\n" + rel + ":\n  " + want_label + ": " + line + "\n  " + got_label + ": " +
                       it->second;
  }
  for (const auto& [rel, line] : got) {
    if (want.count(rel)) continue;
    if (differ++ < 4)
      first += "\n" + rel + " is in " + got_label + " (" + line + ") but not in " + want_label;
  }
  if (differ == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << differ << " of " << want.size() << " paths differ; the first:" << first;
}

}  // namespace scalefs::test
