#include "meta/keys.h"

namespace scalefs::meta {

void PutBigEndian64(std::string* dst, uint64_t v) {
  for (int i = 7; i >= 0; i--) dst->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutBigEndian32(std::string* dst, uint32_t v) {
  for (int i = 3; i >= 0; i--) dst->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t GetBigEndian32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

namespace {
std::string Tagged64(char tag, uint64_t v) {
  std::string k(1, tag);
  PutBigEndian64(&k, v);
  return k;
}
std::string Tagged32(char tag, uint32_t v) {
  std::string k(1, tag);
  PutBigEndian32(&k, v);
  return k;
}
}  // namespace

std::string InodeKey(uint64_t ino) { return Tagged64(kInodeTag, ino); }
std::string DentryPrefix(uint64_t parent) { return Tagged64(kDentryTag, parent); }
std::string DentryKey(uint64_t parent, std::string_view name) {
  std::string k = DentryPrefix(parent);
  k.append(name);
  return k;
}
std::string XattrPrefix(uint64_t ino) { return Tagged64(kXattrTag, ino); }
std::string XattrKey(uint64_t ino, std::string_view name) {
  std::string k = XattrPrefix(ino);
  k.append(name);
  return k;
}
std::string ExtentPrefix(uint64_t ino) { return Tagged64(kExtentTag, ino); }
std::string ExtentKey(uint64_t ino, uint64_t file_offset) {
  std::string k = ExtentPrefix(ino);
  PutBigEndian64(&k, file_offset);
  return k;
}
std::string FreePrefix(uint32_t pair) { return Tagged32(kFreeTag, pair); }
std::string FreeKey(uint32_t pair, uint64_t dev_offset) {
  std::string k = FreePrefix(pair);
  PutBigEndian64(&k, dev_offset);
  return k;
}
std::string PairKey(uint32_t pair) { return Tagged32(kPairTag, pair); }
std::string SessionKey(uint64_t session) { return Tagged64(kSessionTag, session); }
std::string ReplyPrefix(uint64_t session) { return Tagged64(kReplyTag, session); }
std::string ReplyKey(uint64_t session, uint64_t seq) {
  std::string k = ReplyPrefix(session);
  PutBigEndian64(&k, seq);
  return k;
}
std::string OrphanKey(uint64_t ino) { return Tagged64(kOrphanTag, ino); }
std::string MoveKey(uint64_t ino) { return Tagged64(kMoveTag, ino); }

std::string EncodeDentry(uint64_t ino, uint32_t mode) {
  std::string v;
  PutBigEndian64(&v, ino);
  PutBigEndian32(&v, mode);
  return v;
}

bool DecodeDentry(std::string_view v, uint64_t* ino, uint32_t* mode) {
  if (v.size() != 12) return false;
  *ino = GetBigEndian64(v.data());
  *mode = GetBigEndian32(v.data() + 8);
  return true;
}

std::string EncodeU64(uint64_t v) {
  std::string s;
  PutBigEndian64(&s, v);
  return s;
}

bool DecodeU64(std::string_view v, uint64_t* out) {
  if (v.size() != 8) return false;
  *out = GetBigEndian64(v.data());
  return true;
}

bool ParseInodeKey(std::string_view key, uint64_t* ino) {
  if (key.size() != 9 || key[0] != kInodeTag) return false;
  *ino = GetBigEndian64(key.data() + 1);
  return true;
}

bool ParseDentryKey(std::string_view key, uint64_t* parent, std::string* name) {
  if (key.size() < 9 || key[0] != kDentryTag) return false;
  *parent = GetBigEndian64(key.data() + 1);
  name->assign(key.substr(9));
  return true;
}

bool ParseXattrKey(std::string_view key, uint64_t* ino, std::string* name) {
  if (key.size() < 9 || key[0] != kXattrTag) return false;
  *ino = GetBigEndian64(key.data() + 1);
  name->assign(key.substr(9));
  return true;
}

bool ParseExtentKey(std::string_view key, uint64_t* ino, uint64_t* file_offset) {
  if (key.size() != 17 || key[0] != kExtentTag) return false;
  *ino = GetBigEndian64(key.data() + 1);
  *file_offset = GetBigEndian64(key.data() + 9);
  return true;
}

bool ParseFreeKey(std::string_view key, uint32_t* pair, uint64_t* dev_offset) {
  if (key.size() != 13 || key[0] != kFreeTag) return false;
  *pair = GetBigEndian32(key.data() + 1);
  *dev_offset = GetBigEndian64(key.data() + 5);
  return true;
}

bool ParsePairKey(std::string_view key, uint32_t* pair) {
  if (key.size() != 5 || key[0] != kPairTag) return false;
  *pair = GetBigEndian32(key.data() + 1);
  return true;
}

bool ParseSessionKey(std::string_view key, uint64_t* session) {
  if (key.size() != 9 || key[0] != kSessionTag) return false;
  *session = GetBigEndian64(key.data() + 1);
  return true;
}

bool ParseOrphanKey(std::string_view key, uint64_t* ino) {
  if (key.size() != 9 || key[0] != kOrphanTag) return false;
  *ino = GetBigEndian64(key.data() + 1);
  return true;
}

bool ParseMoveKey(std::string_view key, uint64_t* ino) {
  if (key.size() != 9 || key[0] != kMoveTag) return false;
  *ino = GetBigEndian64(key.data() + 1);
  return true;
}

}  // namespace scalefs::meta
