#include "chunk/member_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include <glog/logging.h>

namespace scalefs {

namespace {

std::string NewUuid() {
  std::random_device rd;
  unsigned char b[16];
  for (auto& x : b) x = static_cast<unsigned char>(rd());
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4 (random)
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                b[14], b[15]);
  return out;
}

std::string Render(const std::string& uuid, const Membership& m, const std::string& peer_uuid) {
  std::ostringstream o;
  o << "device_uuid=" << uuid << "\n"
    << "pair_name=" << m.pair_name << "\n"
    << "pair_id=" << m.pair_id << "\n"
    << "member_index=" << m.member_index << "\n"
    << "peer_address=" << m.peer_address << "\n"
    << "generation=" << m.generation << "\n"
    << "capacity=" << m.capacity << "\n"
    << "meta_address=" << m.meta_address << "\n"
    << "peer_device_uuid=" << peer_uuid << "\n";
  return o.str();
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + path);
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

bool ParseU64(const std::string& text, uint64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Result<std::unique_ptr<MemberState>> MemberState::Open(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno != ENOENT) return Status::FromErrno(errno, "open state " + path);
    auto st = std::unique_ptr<MemberState>(new MemberState(path, NewUuid(), Membership{}));
    Status s = st->Save(Membership{});
    if (!s.ok()) return s;
    LOG(INFO) << "new member state " << path << " device_uuid " << st->device_uuid_;
    return st;
  }
  std::string uuid, peer_uuid;
  Membership m;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) {
      return Status::Invalid(path + ":" + std::to_string(lineno) + ": expected key=value");
    }
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    uint64_t num = 0;
    const bool numeric = key == "pair_id" || key == "member_index" || key == "generation" ||
                         key == "capacity";
    if (numeric && !ParseU64(value, &num)) {
      return Status::Invalid(path + ":" + std::to_string(lineno) + ": bad number '" + value + "'");
    }
    if (key == "device_uuid") uuid = value;
    else if (key == "pair_name") m.pair_name = value;
    else if (key == "pair_id") m.pair_id = static_cast<uint32_t>(num);
    else if (key == "member_index") m.member_index = static_cast<uint32_t>(num);
    else if (key == "peer_address") m.peer_address = value;
    else if (key == "generation") m.generation = num;
    else if (key == "capacity") m.capacity = num;
    else if (key == "meta_address") m.meta_address = value;
    else if (key == "peer_device_uuid") peer_uuid = value;
    // Unknown keys are from a newer version: keep going.
  }
  if (uuid.empty()) return Status::Invalid(path + ": no device_uuid");
  auto st = std::unique_ptr<MemberState>(new MemberState(path, uuid, m));
  st->peer_device_uuid_ = peer_uuid;
  return st;
}

Membership MemberState::membership() const {
  std::lock_guard<std::mutex> l(mu_);
  return membership_;
}

std::string MemberState::device_uuid() const { return device_uuid_; }

Status MemberState::CheckJoined() const {
  std::lock_guard<std::mutex> l(mu_);
  if (!membership_.joined()) return Status::Stale("not a member of a pair yet");
  return Status::OK();
}

Status MemberState::Join(const Membership& m) {
  if (m.pair_name.empty() || m.pair_name.find('\n') != std::string::npos ||
      m.peer_address.find('\n') != std::string::npos) {
    return Status::Invalid("bad pair name '" + m.pair_name + "'");
  }
  if (m.member_index > 1) {
    return Status::Invalid("member index " + std::to_string(m.member_index) + " is not 0 or 1");
  }
  std::lock_guard<std::mutex> l(mu_);
  if (membership_ == m) return Status::OK();
  if (membership_.joined()) {
    if (membership_.pair_name != m.pair_name || membership_.pair_id != m.pair_id) {
      return Status::Exists("already member of pair " + membership_.pair_name);
    }
    if (m.generation < membership_.generation) {
      return Status::Stale("stale generation " + std::to_string(m.generation) + " < ours " +
                           std::to_string(membership_.generation));
    }
    if (m.generation == membership_.generation) {
      return Status::Exists("already member of pair " + membership_.pair_name +
                            " with other values at generation " +
                            std::to_string(m.generation));
    }
  }
  Status s = Save(m);
  if (!s.ok()) return s;
  membership_ = m;
  LOG(INFO) << "joined pair " << m.pair_name << " (id " << m.pair_id << ") as member "
            << (m.member_index == 0 ? "A" : "B") << ", peer " << m.peer_address
            << ", generation " << m.generation << ", capacity " << m.capacity;
  return Status::OK();
}

Status MemberState::SetGeneration(uint64_t generation) {
  std::lock_guard<std::mutex> l(mu_);
  if (generation == membership_.generation) return Status::OK();
  if (generation < membership_.generation) {
    return Status::Stale("stale generation " + std::to_string(generation) + " < ours " +
                         std::to_string(membership_.generation));
  }
  Membership m = membership_;
  m.generation = generation;
  Status s = Save(m);
  if (!s.ok()) return s;
  membership_ = m;
  LOG(INFO) << "pair " << m.pair_name << ": now at generation " << generation;
  return Status::OK();
}

std::string MemberState::peer_device_uuid() const {
  std::lock_guard<std::mutex> l(mu_);
  return peer_device_uuid_;
}

Status MemberState::SetPeerDeviceUuid(const std::string& uuid) {
  std::lock_guard<std::mutex> l(mu_);
  if (uuid == peer_device_uuid_) return Status::OK();
  const std::string old = peer_device_uuid_;
  peer_device_uuid_ = uuid;
  Status s = Save(membership_);
  if (!s.ok()) peer_device_uuid_ = old;
  return s;
}

Status MemberState::Save(const Membership& m) const {
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + tmp);
  Status s = WriteAll(fd, Render(device_uuid_, m, peer_device_uuid_), tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Status::FromErrno(errno, "fsync " + tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path_.c_str()) != 0) {
    s = Status::FromErrno(errno, "rename " + tmp + " to " + path_);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  // The rename is durable only once the directory entry is.
  const std::string dir = DirOf(path_);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::FromErrno(errno, "open dir " + dir);
  if (::fsync(dfd) != 0) s = Status::FromErrno(errno, "fsync dir " + dir);
  ::close(dfd);
  return s;
}

}  // namespace scalefs
