// Hand-written JSON strings: every control character escaped, valid UTF-8 kept, and each byte that
// starts no valid sequence replaced by U+FFFD; nlohmann's strict parser reads every result back.
#include "core/json_text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace lathe {
namespace {

std::string Quoted(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

TEST(JsonTextTest, EscapesAndKeepsValidUtf8) {
  EXPECT_EQ(Quoted(""), "\"\"");
  EXPECT_EQ(Quoted("a\"b\\c\n\r\t\b\f"), R"("a\"b\\c\n\r\t\b\f")");
  EXPECT_EQ(Quoted(std::string_view("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(Quoted("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  std::string every_byte;
  for (int c = 0; c < 0x80; ++c) every_byte += static_cast<char>(c);
  EXPECT_EQ(nlohmann::json::parse(Quoted(every_byte)).get<std::string>(), every_byte);
}

TEST(JsonTextTest, InvalidBytesBecomeReplacementCharacters) {
  const std::string kReplacement = "\xEF\xBF\xBD";
  const struct {
    std::string input;
    std::string decoded;
  } cases[] = {
      {"\xC0\x80", kReplacement + kReplacement},           // overlong NUL
      {"\xED\xA0\x80", kReplacement + kReplacement + kReplacement},  // a surrogate
      {"\xF5\x80\x80\x80", kReplacement + kReplacement + kReplacement + kReplacement},  // past U+10FFFF
      {"a\xE2\x82", "a" + kReplacement + kReplacement},     // cut short at the end
      {"\x80x", kReplacement + "x"},                        // a lone continuation byte
      {"\xC3\xA9\xFF\xC3\xA9", "\xC3\xA9" + kReplacement + "\xC3\xA9"},
  };
  for (const auto& [input, decoded] : cases) {
    const std::string quoted = Quoted(input);
    EXPECT_EQ(quoted, "\"" + decoded + "\"") << nlohmann::json(decoded).dump();
    EXPECT_EQ(nlohmann::json::parse(quoted).get<std::string>(), decoded);
  }
}

TEST(JsonTextTest, AppendsToWhatIsThere) {
  std::string out = "{\"k\":";
  AppendJsonString(out, "v");
  EXPECT_EQ(out, "{\"k\":\"v\"");
}

}  // namespace
}  // namespace lathe
