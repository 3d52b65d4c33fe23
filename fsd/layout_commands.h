// `scalefs layout get|set` and `scalefs fileinfo`: where a file's bytes live
// and where a directory's new files will put theirs (as MooseFS's
// mfsfileinfo and CephFS's ceph.dir.layout).
#pragma once

#include <string>
#include <vector>

namespace scalefs {

int RunLayout(const std::vector<std::string>& args, const std::string& meta_flag);
int RunFileInfo(const std::vector<std::string>& args, const std::string& meta_flag);

}  // namespace scalefs
