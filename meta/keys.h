// Key encoding of the metadata DB. Integers are big-endian so that a prefix
// iteration visits records in numeric order (a directory's entries by name,
// a file's extents by offset, a pair's free ranges by device offset).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace scalefs::meta {

// Record kinds: the first byte of every key.
inline constexpr char kInodeTag = 'i';    // i<ino>              -> InodeRecord
inline constexpr char kDentryTag = 'd';   // d<parent><name>     -> EncodeDentry
inline constexpr char kXattrTag = 'x';    // x<ino><name>        -> value
inline constexpr char kExtentTag = 'e';   // e<ino><file_offset> -> Extent
inline constexpr char kFreeTag = 'f';     // f<pair><dev_offset> -> length (8 bytes)
inline constexpr char kPairTag = 'p';     // p<pair>             -> Pair
inline constexpr char kCounterTag = 'c';  // c<name>             -> 8 bytes
inline constexpr char kSessionTag = 's';  // s<session>          -> SessionInfo
inline constexpr char kReplyTag = 'r';    // r<session><seq>     -> stored reply
inline constexpr char kOrphanTag = 'o';   // o<ino>              -> "" (unlinked, still open)
inline constexpr char kMoveTag = 'm';     // m<ino>              -> MoveRecord (rebalance_ops.cc)

inline constexpr std::string_view kNextInoKey = "cnext_ino";
inline constexpr std::string_view kNextPairKey = "cnext_pair";
inline constexpr std::string_view kNextSessionKey = "cnext_session";
inline constexpr uint64_t kRootIno = 1;

void PutBigEndian64(std::string* dst, uint64_t v);
void PutBigEndian32(std::string* dst, uint32_t v);
uint64_t GetBigEndian64(const char* p);
uint32_t GetBigEndian32(const char* p);

std::string InodeKey(uint64_t ino);
std::string DentryPrefix(uint64_t parent);
std::string DentryKey(uint64_t parent, std::string_view name);
std::string XattrPrefix(uint64_t ino);
std::string XattrKey(uint64_t ino, std::string_view name);
std::string ExtentPrefix(uint64_t ino);
std::string ExtentKey(uint64_t ino, uint64_t file_offset);
std::string FreePrefix(uint32_t pair);
std::string FreeKey(uint32_t pair, uint64_t dev_offset);
std::string PairKey(uint32_t pair);
std::string SessionKey(uint64_t session);
std::string ReplyPrefix(uint64_t session);
std::string ReplyKey(uint64_t session, uint64_t seq);
std::string OrphanKey(uint64_t ino);
std::string MoveKey(uint64_t ino);

// Dentry value: the child's ino and mode, so ReadDir knows types cheaply.
std::string EncodeDentry(uint64_t ino, uint32_t mode);
bool DecodeDentry(std::string_view v, uint64_t* ino, uint32_t* mode);

std::string EncodeU64(uint64_t v);
bool DecodeU64(std::string_view v, uint64_t* out);

// The pieces of a key, for code that walks the whole DB (the checker).
// Each returns false when the key is not of that kind or is malformed.
bool ParseInodeKey(std::string_view key, uint64_t* ino);
bool ParseDentryKey(std::string_view key, uint64_t* parent, std::string* name);
bool ParseXattrKey(std::string_view key, uint64_t* ino, std::string* name);
bool ParseExtentKey(std::string_view key, uint64_t* ino, uint64_t* file_offset);
bool ParseFreeKey(std::string_view key, uint32_t* pair, uint64_t* dev_offset);
bool ParsePairKey(std::string_view key, uint32_t* pair);
bool ParseSessionKey(std::string_view key, uint64_t* session);
bool ParseOrphanKey(std::string_view key, uint64_t* ino);
bool ParseMoveKey(std::string_view key, uint64_t* ino);

}  // namespace scalefs::meta
