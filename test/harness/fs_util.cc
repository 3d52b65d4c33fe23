#include "test/harness/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace scalefs::test {

namespace {
uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}
}  // namespace

std::string PatternBytes(uint64_t seed, uint64_t offset, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n;) {
    uint64_t word_index = (offset + i) / 8;
    uint64_t w = Mix(word_index * 0x9e3779b97f4a7c15ULL + seed);
    size_t in_word = (offset + i) % 8;
    size_t take = std::min<size_t>(8 - in_word, n - i);
    std::memcpy(&out[i], reinterpret_cast<const char*>(&w) + in_word, take);
    i += take;
  }
  return out;
}

Status WriteFile(const std::string& path, const std::string& data, bool fsync_it) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      int e = errno;
      close(fd);
      return Status::FromErrno(e, "write " + path);
    }
    done += n;
  }
  if (fsync_it && fsync(fd) != 0) {
    int e = errno;
    close(fd);
    return Status::FromErrno(e, "fsync " + path);
  }
  if (close(fd) != 0) return Status::FromErrno(errno, "close " + path);
  return Status::OK();
}

Result<std::string> ReadAt(const std::string& path, uint64_t offset, size_t n) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, out.data() + done, n - done, offset + done);
    if (r < 0) {
      int e = errno;
      close(fd);
      return Status::FromErrno(e, "read " + path);
    }
    if (r == 0) break;
    done += r;
  }
  close(fd);
  out.resize(done);
  return out;
}

Result<std::string> ReadFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  return ReadAt(path, 0, st.st_size);
}

Status WritePatternFile(const std::string& path, uint64_t seed, uint64_t size) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  const uint64_t kChunk = 1 << 20;
  for (uint64_t off = 0; off < size; off += kChunk) {
    std::string buf = PatternBytes(seed, off, std::min(kChunk, size - off));
    size_t done = 0;
    while (done < buf.size()) {
      ssize_t n = pwrite(fd, buf.data() + done, buf.size() - done, off + done);
      if (n < 0) {
        int e = errno;
        close(fd);
        return Status::FromErrno(e, "write " + path + " at " + std::to_string(off + done));
      }
      done += n;
    }
  }
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    return Status::FromErrno(e, "fsync " + path);
  }
  if (close(fd) != 0) return Status::FromErrno(errno, "close " + path);
  return Status::OK();
}

Status CheckPatternFile(const std::string& path, uint64_t seed, uint64_t size) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  struct stat st;
  fstat(fd, &st);
  if (static_cast<uint64_t>(st.st_size) != size) {
    close(fd);
    return Status::IoError(path + " has size " + std::to_string(st.st_size) + ", expected " +
                           std::to_string(size));
  }
  const uint64_t kChunk = 1 << 20;
  std::string buf(kChunk, '\0');
  for (uint64_t off = 0; off < size; off += kChunk) {
    size_t want = std::min(kChunk, size - off);
    size_t done = 0;
    while (done < want) {
      ssize_t r = pread(fd, buf.data() + done, want - done, off + done);
      if (r <= 0) {
        int e = r < 0 ? errno : EIO;
        close(fd);
        return Status::FromErrno(e, "read " + path + " at " + std::to_string(off + done));
      }
      done += r;
    }
    std::string expect = PatternBytes(seed, off, want);
    if (std::memcmp(buf.data(), expect.data(), want) != 0) {
      size_t i = 0;
      while (buf[i] == expect[i]) ++i;
      close(fd);
      return Status::IoError(path + " differs at byte " + std::to_string(off + i));
    }
  }
  close(fd);
  return Status::OK();
}

}  // namespace scalefs::test
