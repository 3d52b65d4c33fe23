#include "fsd/lookup_cache.h"

#include <algorithm>

namespace scalefs {

namespace {
// Lookups of existing names a directory must see within ttl before it is
// listed: a few stray lookups do not pay for a listing.
constexpr int kListAfterMisses = 8;
constexpr size_t kMaxDirs = 256;
constexpr size_t kMaxChanged = 4096;
// Listed small files kept before the stale ones are dropped.
constexpr size_t kMaxListedFiles = 32768;
}  // namespace

LookupCache::LookupCache(double ttl_seconds, size_t max_entries_per_dir)
    : ttl_(std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(ttl_seconds > 0 ? ttl_seconds : 0))),
      max_entries_(max_entries_per_dir) {}

std::optional<LookupCache::Hit> LookupCache::Find(uint64_t parent, const std::string& name) {
  if (ttl_ <= Clock::duration::zero()) return std::nullopt;
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(mu_);
  auto d = dirs_.find(parent);
  if (d == dirs_.end() || !Fresh(d->second, now)) return std::nullopt;
  auto e = d->second.entries.find(name);
  if (e == d->second.entries.end()) return std::nullopt;
  if (ChangedSinceLocked(e->second.ino(), d->second.taken) ||
      NameChangedSinceLocked(parent, name, d->second.taken)) {
    return std::nullopt;
  }
  const double left =
      std::chrono::duration<double>(d->second.taken + ttl_ - now).count();
  return Hit{e->second, left};
}

std::optional<LookupCache::ListedFile> LookupCache::FindListedFile(uint64_t ino) {
  if (ttl_ <= Clock::duration::zero()) return std::nullopt;
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(mu_);
  auto f = files_.find(ino);
  if (f == files_.end() || now - f->second.first >= ttl_ || ChangedSinceLocked(ino, f->second.first))
    return std::nullopt;
  return f->second.second;
}

bool LookupCache::ChangedSinceLocked(uint64_t ino, Clock::time_point taken) const {
  auto c = changed_.find(ino);
  return c != changed_.end() && c->second >= taken;
}

namespace {
std::string NameKey(uint64_t parent, const std::string& name) {
  return std::to_string(parent) + "/" + name;
}
}  // namespace

bool LookupCache::NameChangedSinceLocked(uint64_t parent, const std::string& name,
                                         Clock::time_point taken) const {
  auto c = changed_names_.find(NameKey(parent, name));
  return c != changed_names_.end() && c->second >= taken;
}

template <typename Map>
void LookupCache::PruneChangesLocked(Map* map, size_t* limit, Clock::time_point now) {
  if (map->size() < *limit) return;
  for (auto it = map->begin(); it != map->end();) {
    it = now - it->second >= ttl_ ? map->erase(it) : std::next(it);
  }
  // Many changes within ttl: scan again only after as many more.
  *limit = std::max(kMaxChanged, 2 * map->size());
}

bool LookupCache::ShouldList(uint64_t parent) {
  if (ttl_ <= Clock::duration::zero() || max_entries_ == 0) return false;
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(mu_);
  PruneLocked(now);
  Listing& l = dirs_[parent];
  // A directory too large to list whole: its fresh partial listing stands.
  if (l.listing_now || (l.truncated && Fresh(l, now))) return false;
  if (l.recent_misses == 0 || now - l.first_miss >= ttl_) {
    l.recent_misses = 0;
    l.first_miss = now;
  }
  if (++l.recent_misses < kListAfterMisses) return false;
  l.recent_misses = 0;
  l.listing_now = true;
  return true;
}

void LookupCache::Fill(uint64_t parent, Clock::time_point taken,
                       std::vector<meta::DirEntry> entries, bool ok) {
  std::lock_guard lock(mu_);
  Listing& l = dirs_[parent];
  l.listing_now = false;
  if (!ok) return;
  l.taken = taken;
  l.truncated = entries.size() >= max_entries_;
  l.entries.clear();
  l.entries.reserve(entries.size());
  if (files_.size() >= kMaxListedFiles) {
    for (auto it = files_.begin(); it != files_.end();)
      it = taken - it->second.first >= ttl_ ? files_.erase(it) : std::next(it);
  }
  for (meta::DirEntry& e : entries) {
    if (e.extents_size() > 0) {
      auto& [when, f] = files_[e.attr().ino()];
      when = taken;
      f.attr = e.attr();
      f.extents.assign(std::make_move_iterator(e.mutable_extents()->begin()),
                       std::make_move_iterator(e.mutable_extents()->end()));
    }
    l.entries.emplace(e.name(), std::move(*e.mutable_attr()));
  }
}

void LookupCache::Changed(uint64_t ino) {
  if (ttl_ <= Clock::duration::zero()) return;
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(mu_);
  PruneChangesLocked(&changed_, &prune_changed_at_, now);
  changed_[ino] = now;
}

void LookupCache::NameChanged(uint64_t parent, const std::string& name) {
  if (ttl_ <= Clock::duration::zero()) return;
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(mu_);
  PruneChangesLocked(&changed_names_, &prune_names_at_, now);
  changed_names_[NameKey(parent, name)] = now;
}

void LookupCache::PruneLocked(Clock::time_point now) {
  if (dirs_.size() < kMaxDirs) return;
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    const Listing& l = it->second;
    const bool idle = !l.listing_now && !Fresh(l, now) && now - l.first_miss >= ttl_;
    it = idle ? dirs_.erase(it) : std::next(it);
  }
}

}  // namespace scalefs
