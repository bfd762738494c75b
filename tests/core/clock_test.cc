#include "core/clock.h"

#include <gtest/gtest.h>

namespace lathe {
namespace {

TEST(ClockTest, FormatIsoUtcMillis) {
  EXPECT_EQ(FormatIsoUtcMillis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIsoUtcMillis(1'800'000'000'123), "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(FormatIsoUtcMillis(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatIsoUtcMillis(-1000), "1969-12-31T23:59:59.000Z");
}

}  // namespace
}  // namespace lathe
