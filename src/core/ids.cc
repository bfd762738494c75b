// Random identifiers drawn from a per-thread generator seeded by the OS.
#include "core/ids.h"

#include <array>
#include <cstdint>
#include <random>

#include <fmt/format.h>

namespace lathe {
namespace {

std::mt19937_64& ThreadRng() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return rng;
}

}  // namespace

std::string NewUuidHex() {
  auto& rng = ThreadRng();
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

std::string NewRequestId() { return fmt::format("{:016x}", ThreadRng()()); }

std::string NewRunName() {
  static constexpr std::array<const char*, 16> kAdjectives = {
      "brave", "calm", "clever", "eager", "gentle", "bright", "bold", "quick",
      "quiet", "sharp", "steady", "swift", "wise", "keen", "lucid", "merry"};
  static constexpr std::array<const char*, 16> kNouns = {
      "owl", "fox", "hawk", "lynx", "otter", "heron", "wolf", "bee",
      "finch", "seal", "crane", "hare", "moth", "stag", "wren", "yak"};
  auto& rng = ThreadRng();
  uint64_t bits = rng();
  return fmt::format("{}-{}-{}", kAdjectives[bits % kAdjectives.size()],
                     kNouns[(bits >> 8) % kNouns.size()], (bits >> 16) % 1000);
}

}  // namespace lathe
