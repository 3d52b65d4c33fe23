// Comparing two trees of files, for workload_test: byte for byte, with the
// folder a build ran in taken out of its files (two builds in different
// folders are the same build). A failure names the first file that differs
// and how.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
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

}  // namespace scalefs::test
