#include "fsd/fill_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace scalefs {

TEST(FillGateTest, NoFillWhileAWriterIsOpen) {
  FillGate g;
  EXPECT_TRUE(g.BeginFill(5));
  g.EndFill(5);
  g.BeginWrite(5);
  EXPECT_FALSE(g.BeginFill(5));
  EXPECT_TRUE(g.BeginFill(6)) << "another inode is not held off";
  g.EndFill(6);
  g.BeginWrite(5);  // two writers
  g.EndWrite(5);
  EXPECT_FALSE(g.BeginFill(5));
  g.EndWrite(5);
  EXPECT_TRUE(g.BeginFill(5));
  g.EndFill(5);
}

TEST(FillGateTest, AWriterWaitsForTheFillsInFlight) {
  FillGate g;
  ASSERT_TRUE(g.BeginFill(3));
  ASSERT_TRUE(g.BeginFill(3));
  std::atomic<bool> writing{false};
  std::thread writer([&] {
    g.BeginWrite(3);
    writing = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(writing) << "the writer started during a fill";
  EXPECT_FALSE(g.BeginFill(3)) << "a waiting writer holds new fills off";
  g.EndFill(3);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(writing) << "the writer started during the second fill";
  g.EndFill(3);
  writer.join();
  EXPECT_TRUE(writing);
  g.EndWrite(3);
}

TEST(FillGateTest, AFenceWaitsForFillsInFlightOnly) {
  FillGate g;
  g.Fence(4);  // nothing in flight: returns at once
  ASSERT_TRUE(g.BeginFill(4));
  std::atomic<bool> fenced{false};
  std::thread opener([&] {
    g.Fence(4);
    fenced = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(fenced) << "the open went on while a fill fetched before it was in flight";
  g.EndFill(4);
  opener.join();
  EXPECT_TRUE(fenced);
  EXPECT_TRUE(g.BeginFill(4)) << "after the fence, fills go on";
  g.EndFill(4);
}

}  // namespace scalefs
