// Assertions on Status and on syscalls, so a failure names the errno.
#pragma once

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "common/status.h"

// Both accept more context with <<, as gtest's own assertions do.
#define ASSERT_OK(expr)                                         \
  if (const ::scalefs::Status _s = (expr); _s.ok()) {           \
  } else                                                        \
    FAIL() << #expr << ": " << _s.ToString() << " "

#define EXPECT_OK(expr)                                         \
  if (const ::scalefs::Status _s = (expr); _s.ok()) {           \
  } else                                                        \
    ADD_FAILURE() << #expr << ": " << _s.ToString() << " "

// The syscall expression must fail with exactly this errno.
#define EXPECT_ERRNO(err, expr)                                                          \
  do {                                                                                   \
    errno = 0;                                                                           \
    auto _r = (expr);                                                                    \
    int _e = errno;                                                                      \
    EXPECT_EQ(_r, -1) << #expr << " succeeded, expected " << strerrorname_np(err);       \
    EXPECT_EQ(_e, err) << #expr << ": got " << (strerrorname_np(_e) ? strerrorname_np(_e) : "0") \
                       << ", expected " << strerrorname_np(err);                          \
  } while (0)

// The syscall expression must succeed (not return -1).
#define EXPECT_SYS(expr)                                                               \
  do {                                                                                 \
    errno = 0;                                                                         \
    auto _r = (expr);                                                                  \
    EXPECT_NE(_r, -1) << #expr << ": " << std::strerror(errno);                        \
  } while (0)
#define ASSERT_SYS(expr)                                                               \
  do {                                                                                 \
    errno = 0;                                                                         \
    auto _r = (expr);                                                                  \
    ASSERT_NE(_r, -1) << #expr << ": " << std::strerror(errno);                        \
  } while (0)
