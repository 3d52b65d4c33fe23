// The one status type of scalefs, after leveldb::Status: every function that
// can fail returns it (or a Result<T>), never throws across a component.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace scalefs {

class Status {
 public:
  // The codes map one-to-one onto the errno a FUSE request answers with, so a
  // failure keeps its meaning from RocksDB or a chunk server to the mount.
  enum class Code : int {
    kOk = 0,
    kNotFound = ENOENT,
    kExists = EEXIST,
    kNotEmpty = ENOTEMPTY,
    kNotDir = ENOTDIR,
    kIsDir = EISDIR,
    kNameTooLong = ENAMETOOLONG,
    kInvalid = EINVAL,
    kNoSpace = ENOSPC,
    kPermission = EPERM,
    kAccess = EACCES,
    kIoError = EIO,
    kUnavailable = EAGAIN,
    kNoData = ENODATA,
    kRange = ERANGE,
    kNotSupported = EOPNOTSUPP,
    kTooBig = EFBIG,
    kStale = ESTALE,
    kBusy = EBUSY,
    kCrossDevice = EXDEV,
    kTooManyLinks = EMLINK,
    kReadOnly = EROFS,
    // Stored bytes that do not match their checksum (a damaged copy).
    kCorrupt = EBADMSG,
  };

  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Exists(std::string m) { return {Code::kExists, std::move(m)}; }
  static Status NotEmpty(std::string m) { return {Code::kNotEmpty, std::move(m)}; }
  static Status NotDir(std::string m) { return {Code::kNotDir, std::move(m)}; }
  static Status IsDir(std::string m) { return {Code::kIsDir, std::move(m)}; }
  static Status NameTooLong(std::string m) { return {Code::kNameTooLong, std::move(m)}; }
  static Status Invalid(std::string m) { return {Code::kInvalid, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status Permission(std::string m) { return {Code::kPermission, std::move(m)}; }
  static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status NoData(std::string m) { return {Code::kNoData, std::move(m)}; }
  static Status Range(std::string m) { return {Code::kRange, std::move(m)}; }
  static Status NotSupported(std::string m) { return {Code::kNotSupported, std::move(m)}; }
  static Status Stale(std::string m) { return {Code::kStale, std::move(m)}; }
  static Status Busy(std::string m) { return {Code::kBusy, std::move(m)}; }
  static Status Corrupt(std::string m) { return {Code::kCorrupt, std::move(m)}; }
  // From a failed system call: keeps errno as the code.
  static Status FromErrno(int err, std::string context);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  int errno_value() const { return static_cast<int>(code_); }
  const std::string& message() const { return message_; }
  // "ENOENT: no entry 'x' in directory 1"
  std::string ToString() const;

  // Adds context in front of the message, keeping the code.
  Status Annotate(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the status explaining why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}   // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }
  const T* operator->() const { return &value(); }
  const T& operator*() const { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace scalefs
