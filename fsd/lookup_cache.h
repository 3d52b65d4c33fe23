// Lookups answered from a recent listing of the parent directory.
//
// A client that looks up many existing names of one directory (stat of a
// tree, rm -r, a build reading its sources) lists the directory, with every
// entry's attr, in a few ReadDir calls instead of making one Lookup call per
// name: the heuristic NFS clients apply with READDIRPLUS. An entry is trusted
// for ttl after its listing was taken, the staleness the kernel's own entry
// and attribute timeouts already allow, and never after this client changed
// that inode or name: a change is recorded once meta answered it, and a
// listing taken before that moment never vouches for what it changed (so a
// listing in flight during a rename cannot bring the old name back). A name
// missing from a listing is not trusted to be
// absent: it goes to meta, so a file another client just created is seen.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto/meta.pb.h"

namespace scalefs {

class LookupCache {
 public:
  using Clock = std::chrono::steady_clock;

  struct Hit {
    meta::Attr attr;
    double seconds_left;  // how long the kernel may keep it
  };

  // ttl_seconds <= 0 turns the cache off.
  LookupCache(double ttl_seconds, size_t max_entries_per_dir);

  // The entry of name in parent from a listing younger than ttl, unless this
  // client changed it since the listing was taken.
  std::optional<Hit> Find(uint64_t parent, const std::string& name);

  // A small regular file's attr and extent map as a fresh listing gave them
  // (meta::DirEntry.extents), unless this client changed the file since: what
  // an open may read ahead with while meta confirms them.
  struct ListedFile {
    meta::Attr attr;
    std::vector<meta::Extent> extents;
  };
  std::optional<ListedFile> FindListedFile(uint64_t ino);

  // Called after meta found name in parent while no fresh listing had it.
  // True when the caller should list parent now: enough such lookups came
  // within ttl, and no other thread is already listing it.
  bool ShouldList(uint64_t parent);

  // A listing taken by a ReadDir that started at `taken`; truncated when the
  // directory had more than max_entries_per_dir entries. Ends the ShouldList
  // claim; an empty vector with ok=false just ends it.
  void Fill(uint64_t parent, Clock::time_point taken, std::vector<meta::DirEntry> entries,
            bool ok = true);

  // This client changed ino's attributes (write, setattr, xattr, link) or a
  // directory's entries.
  void Changed(uint64_t ino);
  // This client changes what `name` in `parent` refers to (create, mkdir,
  // mknod, symlink, link, unlink, rmdir, either side of a rename). Called
  // before the change is sent and again once meta answered it: no listing
  // taken before the second call is trusted for that name.
  void NameChanged(uint64_t parent, const std::string& name);

  size_t max_entries_per_dir() const { return max_entries_; }

 private:
  struct Listing {
    Clock::time_point taken{};
    std::unordered_map<std::string, meta::Attr> entries;
    int recent_misses = 0;
    Clock::time_point first_miss{};
    bool listing_now = false;
    bool truncated = false;
  };

  bool Fresh(const Listing& l, Clock::time_point now) const { return now - l.taken < ttl_; }
  void PruneLocked(Clock::time_point now);
  bool ChangedSinceLocked(uint64_t ino, Clock::time_point taken) const;
  bool NameChangedSinceLocked(uint64_t parent, const std::string& name,
                              Clock::time_point taken) const;
  // Drops change records older than ttl once `map` reached *limit entries.
  template <typename Map>
  void PruneChangesLocked(Map* map, size_t* limit, Clock::time_point now);

  const Clock::duration ttl_;
  const size_t max_entries_;
  std::mutex mu_;
  std::unordered_map<uint64_t, Listing> dirs_;
  // Listed files that came with extents: ino -> when listed, what was listed.
  std::unordered_map<uint64_t, std::pair<Clock::time_point, ListedFile>> files_;
  // When this client last changed an inode; only changes younger than ttl
  // matter, older ones predate every listing still trusted.
  std::unordered_map<uint64_t, Clock::time_point> changed_;
  size_t prune_changed_at_ = 4096;
  // When this client last changed a name: "<parent>/<name>" -> time.
  std::unordered_map<std::string, Clock::time_point> changed_names_;
  size_t prune_names_at_ = 4096;
};

}  // namespace scalefs
