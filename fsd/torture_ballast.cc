// The faults of `scalefs torture --faults` that write ballast through a
// mount: grow (closed files for rebalance to move) and fill (until ENOSPC).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "fsd/admin_commands.h"
#include "fsd/pair_status.h"
#include "fsd/torture_faults.h"

namespace scalefs::torture {

Status FaultInjector::WriteBallast(double fraction) {
  std::unique_ptr<MetaClient> meta = ConnectMeta(meta_flag_, "torture --faults", 3000);
  if (!meta) return Status::Unavailable("meta does not answer");
  auto views = GatherPairViews(meta.get(), 2000);
  if (!views.ok()) return views.status();
  uint64_t cap = 0, used = 0;
  for (const PairView& v : *views) {
    cap += v.pair.capacity();
    used += v.pair.capacity() - std::min(v.pair.capacity(), v.pair.free());
  }
  const uint64_t want = static_cast<uint64_t>(fraction * static_cast<double>(cap));
  if (mkdir(ballast_dir_.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "mkdir " + ballast_dir_);
  }
  constexpr size_t kFile = 8 << 20;
  std::string data(kFile, '\0');
  for (uint64_t written = 0, i = 0; used + written < want; written += kFile, ++i) {
    for (size_t b = 0; b < data.size(); b += 8) {
      const uint64_t v = rng_();
      memcpy(&data[b], &v, 8);
    }
    const std::string path = ballast_dir_ + "/b" + std::to_string(grown_) + "-" + std::to_string(i);
    const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) return Status::FromErrno(errno, "create " + path);
    const bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    const int err = errno;
    if (close(fd) != 0 || !ok) return Status::FromErrno(ok ? errno : err, "write " + path);
  }
  return Status::OK();
}

Status FaultInjector::Grow() {
  // The ballast is closed, so it moves; the workers' open files do not.
  if (Status s = WriteBallast(0.3); !s.ok()) return s.Annotate("ballast");
  if (Status s = Tool("grow"); !s.ok()) return s;
  grown_++;
  Log("grow: a pair added; rebalancing");
  if (Status s = Tool("admin rebalance"); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::remove_all(ballast_dir_, ec);
  if (ec) return Status::IoError("removing " + ballast_dir_ + ": " + ec.message());
  return Status::OK();
}

Result<uint64_t> FaultInjector::BallastUntilFull(size_t file_size, uint64_t capacity,
                                                 uint64_t* index) {
  std::string data(file_size, '\0');
  uint64_t bytes = 0;
  for (uint64_t n = 0;; ++n, ++*index) {
    if (n * file_size > capacity + (64 << 20)) {
      return Status::IoError("no ENOSPC after " + std::to_string(n) + " ballast files");
    }
    for (size_t b = 0; b + 8 <= data.size(); b += 8) {
      const uint64_t v = rng_();
      memcpy(&data[b], &v, 8);
    }
    const std::string path = ballast_dir_ + "/full-" + std::to_string(*index);
    const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) {
      if (errno == ENOSPC) return bytes >> 20;
      return Status::FromErrno(errno, "create " + path);
    }
    // A short count is a partial write: the rest again brings the errno.
    int werr = 0;
    for (size_t put = 0; put < data.size();) {
      const ssize_t w = write(fd, data.data() + put, data.size() - put);
      if (w <= 0) {
        werr = w < 0 ? errno : EIO;
        break;
      }
      put += static_cast<size_t>(w);
      bytes += static_cast<uint64_t>(w);
    }
    const int cerr = close(fd) == 0 ? 0 : errno;
    const int err = werr != 0 ? werr : cerr;
    if (err == ENOSPC) return bytes >> 20;
    if (err != 0) return Status::FromErrno(err, "write " + path);
  }
}

Status FaultInjector::Fill(const Fault& f) {
  shared_->full_phases.fetch_add(1);
  shared_->full.store(1);
  // However it ends, the ballast goes (a failed fill must not leave the file
  // system full for the rest of the run), then the processes are told.
  struct Open {
    TortureShared* s;
    std::string ballast;
    ~Open() {
      std::error_code ec;
      std::filesystem::remove_all(ballast, ec);
      s->full.store(0);
    }
  } open_again{shared_, ballast_dir_};
  // No locked section is changing a shared file when the space runs out.
  const double until = Now() + kQuietWithin;
  while (shared_->sections_writing.load() != 0) {
    if (Now() > until) return Status::Unavailable("locked sections still writing after " +
                                                  Seconds(kQuietWithin));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  struct statfs before {};
  if (statfs(mounts_[0].c_str(), &before) != 0) return Status::FromErrno(errno, "statfs " + mounts_[0]);
  if (mkdir(ballast_dir_.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "mkdir " + ballast_dir_);
  }
  // 8 MiB files until one is refused; then, while it holds, small ones each
  // time the processes' unlinks and truncates gave some space back.
  uint64_t index = 0;
  auto mib = BallastUntilFull(8 << 20, before.f_blocks * before.f_bsize, &index);
  if (!mib.ok()) return mib.status();
  Count(f);
  Log("fill: " + std::to_string(*mib) + " MiB of ballast until ENOSPC; held " + Seconds(f.seconds));
  const double hold_until = Now() + f.seconds;
  uint64_t topped = 0;
  while (Now() < hold_until && Sleep(0.1)) {
    auto more = BallastUntilFull(256 << 10, before.f_blocks * before.f_bsize, &index);
    if (!more.ok()) return more.status();
    topped += *more;
  }
  if (topped > 0) Log("fill: kept full with " + std::to_string(topped) + " MiB more");
  std::error_code ec;
  std::filesystem::remove_all(ballast_dir_, ec);
  if (ec) return Status::IoError("removing " + ballast_dir_ + ": " + ec.message());
  // The processes may see ENOSPC until the space is back.
  const double back_by = Now() + kFillSeconds;
  for (;;) {
    struct statfs now {};
    if (statfs(mounts_[0].c_str(), &now) == 0 &&
        now.f_bavail * now.f_bsize + (64 << 20) >= before.f_bavail * before.f_bsize) {
      return Status::OK();
    }
    if (Now() > back_by) return Status::Unavailable("the ballast's space not back within " + Seconds(kFillSeconds));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace scalefs::torture
