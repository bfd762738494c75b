// Runs reference computations in Debian's /usr/bin/python3 (numpy, scipy, pandas, scikit-learn)
// for the monitoring tests: a scratch directory for their inputs, the script's output, and one
// tolerance for comparing numbers.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lathe::monitoring::testing {

// A fresh directory, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "lathe-monitoring-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path Write(const std::string& name, const std::string& bytes) const {
    auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << bytes;
    return file;
  }

 private:
  std::filesystem::path path_;
};

// Runs `script` with `args`; a non-zero exit fails the test. Returns what it printed.
inline std::string RunPython(const std::string& script, const std::vector<std::string>& args) {
  ScratchDir dir;
  std::string command = "/usr/bin/python3 " + dir.Write("reference.py", script).string();
  for (const auto& arg : args) command += " " + arg;
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  if (pipe == nullptr) return {};
  std::string output;
  char buffer[65536];
  size_t read;
  while ((read = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, read);
  EXPECT_EQ(pclose(pipe), 0) << command << "\n" << output;
  return output;
}

// RunPython for a script that prints one JSON document; `input`, when given, is written to a file
// passed as its first argument.
inline nlohmann::json RunPythonJson(const std::string& script, const nlohmann::json& input) {
  ScratchDir dir;
  return nlohmann::json::parse(RunPython(script, {dir.Write("case.json", input.dump()).string()}));
}

// Equal to 1e-9 relative, or 1e-15 absolute near 0; infinities exactly; a JSON null expects NaN.
inline void ExpectClose(double actual, const nlohmann::json& expected_json, const std::string& what) {
  if (expected_json.is_null()) {
    EXPECT_TRUE(std::isnan(actual)) << what << ": " << actual;
    return;
  }
  const double expected = expected_json;
  if (std::isinf(expected)) {
    EXPECT_EQ(actual, expected) << what;
    return;
  }
  EXPECT_NEAR(actual, expected, std::abs(expected) < 1e-12 ? 1e-15 : 1e-9 * std::abs(expected)) << what;
}

}  // namespace lathe::monitoring::testing
