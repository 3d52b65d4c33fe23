// Layouts users see and set (as CephFS's ceph.dir.layout): a directory may
// carry a default layout (stripe unit, width, pair set) that new files and
// subdirectories made in it take; a file's layout is fixed at create. Both
// read back as the virtual xattr scalefs.layout, "unit=U width=W pairs=A,B";
// a directory's is set by writing that xattr (any of the three keys; the
// others stay), removed by removing it.
#include <sys/stat.h>

#include <charconv>
#include <set>
#include <sstream>

#include "common/layout.h"
#include "meta/meta_store.h"
#include "meta/store_records.h"
#include "meta/txn.h"

namespace scalefs::meta {

namespace {

constexpr uint64_t kMaxStripeUnit = 64ull << 20;

// "4M", "64K", "1048576".
bool ParseSize(std::string_view s, uint64_t* out) {
  uint64_t mult = 1;
  if (!s.empty() && (s.back() == 'K' || s.back() == 'k')) mult = 1ull << 10;
  if (!s.empty() && (s.back() == 'M' || s.back() == 'm')) mult = 1ull << 20;
  if (mult != 1) s.remove_suffix(1);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return false;
  *out = v * mult;
  return true;
}

}  // namespace

std::string MetaStore::LayoutTextLocked(const InodeRecord& rec) const {
  const Layout& l = rec.layout();
  auto name = [&](uint32_t id) {
    auto it = pairs_.find(id);
    return it != pairs_.end() ? it->second.name() : "pair-id-" + std::to_string(id);
  };
  std::ostringstream out;
  if (S_ISDIR(rec.attr().mode())) {
    // A directory without a layout of its own: what the cluster gives.
    const uint64_t unit = l.unit() != 0 ? l.unit() : kDefaultStripeUnit;
    out << "unit=" << unit << " width=";
    if (l.width() != 0) out << l.width(); else out << "all";
    out << " pairs=";
    if (l.pairs_size() == 0) out << "all";
  } else {
    out << "unit=" << l.unit() << " width=" << l.pairs_size() << " pairs=";
  }
  for (int i = 0; i < l.pairs_size(); ++i) out << (i ? "," : "") << name(l.pairs(i));
  return out.str();
}

Result<std::string> MetaStore::LayoutXattr(uint64_t ino) {
  MutationLock l(this);
  Result<InodeRecord> r = GetAttr(ino);
  if (!r.ok()) return r.status();
  const uint32_t type = r->attr().mode() & S_IFMT;
  if (type != S_IFDIR && type != S_IFREG) {
    return Status::NoData("only files and directories have a layout (" + InoStr(ino) + ")");
  }
  return LayoutTextLocked(*r);
}

Status MetaStore::SetDirLayoutLocked(InodeRecord* dir, const std::string& text) {
  const std::string where = "layout of " + InoStr(dir->attr().ino());
  if (!S_ISDIR(dir->attr().mode())) {
    return Status::Invalid(where + ": only a directory's layout can be set (a file's is fixed "
                           "when it is made)");
  }
  Layout l = dir->layout();
  if (l.unit() == 0) l.set_unit(kDefaultStripeUnit);
  std::istringstream in(text);
  std::string item;
  while (in >> item) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "unit") {
      uint64_t unit = 0;
      if (!ParseSize(value, &unit) || unit == 0 || unit % kBlockSize != 0 || unit > kMaxStripeUnit) {
        return Status::Invalid(where + ": unit '" + value +
                               "' must be a multiple of 4 KiB, at most 64M");
      }
      l.set_unit(unit);
    } else if (key == "width") {
      uint64_t width = 0;
      if (value == "all") {
        width = 0;
      } else if (!ParseSize(value, &width) || width == 0 || width > 1024) {
        return Status::Invalid(where + ": width '" + value + "' must be a number of pairs, or all");
      }
      l.set_width(static_cast<uint32_t>(width));
    } else if (key == "pairs") {
      l.clear_pairs();
      if (value != "all") {
        std::set<uint32_t> seen;
        std::istringstream names(value);
        std::string n;
        while (std::getline(names, n, ',')) {
          uint32_t id = 0;
          for (const auto& [pid, p] : pairs_) {
            if (p.name() == n) id = pid;
          }
          if (id == 0) return Status::Invalid(where + ": no pair named '" + n + "'");
          if (space_.Draining(id)) {
            return Status::Invalid(where + ": pair '" + n +
                                   "' is draining (scalefs pair drain): it takes no new files");
          }
          if (!seen.insert(id).second) return Status::Invalid(where + ": pair '" + n + "' twice");
          l.add_pairs(id);
        }
        if (l.pairs_size() == 0) return Status::Invalid(where + ": pairs= names no pair");
      }
    } else {
      return Status::Invalid(where + ": unknown key '" + key + "' (unit=, width=, pairs=)");
    }
  }
  const size_t set = l.pairs_size() != 0 ? l.pairs_size() : pairs_.size();
  if (l.width() > set) {
    return Status::Invalid(where + ": width " + std::to_string(l.width()) + " is more than the " +
                           std::to_string(set) + " pairs it may use");
  }
  *dir->mutable_layout() = l;
  dir->mutable_attr()->set_ctime_ns(NowNs());
  return Status::OK();
}

// The pair set is the directory's (every pair when it names none); the file
// stripes over `width` of them (all when 0), rotated by ino so that small
// files (one unit each) spread over the set.
Layout MetaStore::NewFileLayout(uint64_t ino, const Layout& dir) const {
  Layout l;
  l.set_unit(dir.unit() != 0 ? dir.unit() : kDefaultStripeUnit);
  std::vector<uint32_t> ids;
  // Draining pairs take no new files (a removed one is gone from pairs_).
  for (uint32_t id : dir.pairs()) {
    if (pairs_.count(id) && !space_.Draining(id)) ids.push_back(id);
  }
  if (ids.empty()) {
    for (const auto& [id, p] : pairs_) {
      if (!space_.Draining(id)) ids.push_back(id);
    }
  }
  if (ids.empty()) return l;
  const size_t width = dir.width() != 0 && dir.width() < ids.size() ? dir.width() : ids.size();
  const size_t shift = ino % ids.size();
  for (size_t i = 0; i < width; i++) l.add_pairs(ids[(i + shift) % ids.size()]);
  return l;
}

}  // namespace scalefs::meta
