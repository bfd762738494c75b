// LocalArtifactStore on real temporary directories: storage, listing, deletion, and confinement.
#include "artifacts/artifact_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace lathe::artifacts {
namespace {

namespace fs = std::filesystem;

// A fresh directory under `parent` that is removed with the object.
class TempDir {
 public:
  explicit TempDir(const fs::path& parent = fs::temp_directory_path()) {
    std::string pattern = (parent / "lathe-artifacts-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void WriteFile(const fs::path& path, std::string_view content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
}

class ArtifactStoreTest : public ::testing::Test {
 protected:
  ArtifactStoreTest() : store_(temp_.path() / "artifacts") {}

  fs::path Root() const { return store_.root(); }

  TempDir temp_;
  LocalArtifactStore store_;
};

TEST_F(ArtifactStoreTest, ConstructorCreatesTheRoot) {
  EXPECT_TRUE(fs::is_directory(temp_.path() / "artifacts"));
  EXPECT_TRUE(Root().is_absolute());
}

TEST_F(ArtifactStoreTest, PutBytesThenGetReturnsTheFile) {
  ASSERT_TRUE(store_.PutBytes("1/abc/artifacts/model/MLmodel", "flavors: {}\n").ok());
  auto file = store_.Get("1/abc/artifacts/model/MLmodel");
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(*file, Root() / "1/abc/artifacts/model/MLmodel");
  EXPECT_EQ(ReadFile(*file), "flavors: {}\n");
}

TEST_F(ArtifactStoreTest, PutMovesTheStagedFileIntoPlace) {
  fs::path staged = temp_.path() / "staged-upload";
  WriteFile(staged, "weights");
  ASSERT_TRUE(store_.Put("run/data/weights.bin", staged).ok());
  EXPECT_FALSE(fs::exists(staged));
  EXPECT_EQ(ReadFile(Root() / "run/data/weights.bin"), "weights");
}

TEST_F(ArtifactStoreTest, PutFromAnotherFilesystemCopies) {
  TempDir other("/dev/shm");
  struct stat root_stat {
  }, other_stat{};
  if (other.path().empty() || ::stat(Root().c_str(), &root_stat) != 0 ||
      ::stat(other.path().c_str(), &other_stat) != 0 || root_stat.st_dev == other_stat.st_dev) {
    GTEST_SKIP() << "needs /dev/shm on a filesystem other than the temporary directory";
  }
  fs::path staged = other.path() / "upload";
  WriteFile(staged, "across devices");
  ASSERT_TRUE(store_.Put("a/b.txt", staged).ok());
  EXPECT_EQ(ReadFile(Root() / "a/b.txt"), "across devices");
  auto listing = store_.List("a");
  ASSERT_TRUE(listing.ok());
  ASSERT_EQ(listing->size(), 1u);  // no staging copy left behind
}

TEST_F(ArtifactStoreTest, PutOverwritesAnExistingFile) {
  ASSERT_TRUE(store_.PutBytes("a/metrics.json", "old, longer content").ok());
  ASSERT_TRUE(store_.PutBytes("a/metrics.json", "new").ok());
  EXPECT_EQ(ReadFile(Root() / "a/metrics.json"), "new");
}

TEST_F(ArtifactStoreTest, PutStoresEmptyFiles) {
  ASSERT_TRUE(store_.PutBytes("empty.txt", "").ok());
  EXPECT_EQ(fs::file_size(Root() / "empty.txt"), 0u);
}

TEST_F(ArtifactStoreTest, PutNeedsAFileName) {
  EXPECT_EQ(store_.PutBytes("", "x").code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_.PutBytes("dir/", "x").code(), ErrorCode::kInvalidParameterValue);
}

TEST_F(ArtifactStoreTest, PutOntoADirectoryIsRefused) {
  ASSERT_TRUE(store_.PutBytes("dir/inner.txt", "x").ok());
  Status status = store_.PutBytes("dir", "x");
  EXPECT_EQ(status.code(), ErrorCode::kInvalidParameterValue);
  EXPECT_TRUE(fs::is_directory(Root() / "dir"));
}

TEST_F(ArtifactStoreTest, PutBelowAFileIsRefused) {
  ASSERT_TRUE(store_.PutBytes("file.txt", "x").ok());
  Status status = store_.PutBytes("file.txt/inner.txt", "y");
  EXPECT_EQ(status.code(), ErrorCode::kInvalidParameterValue) << status.message();
  EXPECT_EQ(ReadFile(Root() / "file.txt"), "x");
}

TEST_F(ArtifactStoreTest, FailedPutLeavesNoStagingFile) {
  ASSERT_TRUE(store_.PutBytes("dir/inner.txt", "x").ok());
  ASSERT_FALSE(store_.PutBytes("dir", "x").ok());
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(Root())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST_F(ArtifactStoreTest, GetMissingFileIsNotFound) {
  auto file = store_.Get("nope/missing.txt");
  EXPECT_EQ(file.status().code(), ErrorCode::kResourceDoesNotExist);
  EXPECT_NE(file.status().message().find("nope/missing.txt"), std::string::npos);
}

TEST_F(ArtifactStoreTest, GetDirectoryIsRefused) {
  ASSERT_TRUE(store_.PutBytes("dir/a.txt", "x").ok());
  EXPECT_EQ(store_.Get("dir").status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_.Get("").status().code(), ErrorCode::kInvalidParameterValue);
}

TEST_F(ArtifactStoreTest, GetRefusesFifos) {
  ASSERT_EQ(::mkfifo((Root() / "pipe").c_str(), 0600), 0);
  EXPECT_EQ(store_.Get("pipe").status().code(), ErrorCode::kInvalidParameterValue);
}

TEST_F(ArtifactStoreTest, ListGivesImmediateChildrenSortedWithSizes) {
  ASSERT_TRUE(store_.PutBytes("run/b.txt", "12345").ok());
  ASSERT_TRUE(store_.PutBytes("run/a/deep/x.bin", "x").ok());
  ASSERT_TRUE(store_.PutBytes("run/c.txt", "").ok());
  auto files = store_.List("run");
  ASSERT_TRUE(files.ok()) << files.status().message();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].path, "a");
  EXPECT_TRUE((*files)[0].is_dir);
  EXPECT_EQ((*files)[1].path, "b.txt");
  EXPECT_FALSE((*files)[1].is_dir);
  EXPECT_EQ((*files)[1].file_size, 5);
  EXPECT_EQ((*files)[2].path, "c.txt");
  EXPECT_EQ((*files)[2].file_size, 0);
}

TEST_F(ArtifactStoreTest, ListOfNestedDirectoryUsesNamesRelativeToIt) {
  ASSERT_TRUE(store_.PutBytes("run/a/deep/x.bin", "xy").ok());
  auto files = store_.List("run/a/deep/");
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].path, "x.bin");
  EXPECT_EQ((*files)[0].file_size, 2);
}

TEST_F(ArtifactStoreTest, ListOfRootAndOfMissingDirectory) {
  auto empty_root = store_.List("");
  ASSERT_TRUE(empty_root.ok());
  EXPECT_TRUE(empty_root->empty());
  auto missing = store_.List("no/such/dir");
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->empty());
  ASSERT_TRUE(store_.PutBytes("1/x", "x").ok());
  auto root = store_.List("");
  ASSERT_TRUE(root.ok());
  ASSERT_EQ(root->size(), 1u);
  EXPECT_EQ((*root)[0].path, "1");
}

TEST_F(ArtifactStoreTest, ListOfAFileIsEmptyAsInMlflow) {
  ASSERT_TRUE(store_.PutBytes("a.txt", "x").ok());
  auto files = store_.List("a.txt");
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE(files->empty());
}

TEST_F(ArtifactStoreTest, ListHidesUploadsInProgress) {
  WriteFile(Root() / "run" / ".lathe-staging-0123456789abcdef0123456789abcdef", "partial");
  WriteFile(Root() / "run" / ".lathe-staging-notastagingname", "real");
  auto files = store_.List("run");
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].path, ".lathe-staging-notastagingname");
}

TEST_F(ArtifactStoreTest, DeleteRemovesFilesAndTrees) {
  ASSERT_TRUE(store_.PutBytes("run/a.txt", "x").ok());
  ASSERT_TRUE(store_.PutBytes("run/dir/b.txt", "y").ok());
  ASSERT_TRUE(store_.PutBytes("run/dir/sub/c.txt", "z").ok());
  ASSERT_TRUE(store_.Delete("run/a.txt").ok());
  EXPECT_FALSE(fs::exists(Root() / "run/a.txt"));
  ASSERT_TRUE(store_.Delete("run/dir").ok());
  EXPECT_FALSE(fs::exists(Root() / "run/dir"));
  EXPECT_TRUE(fs::is_directory(Root() / "run"));
}

TEST_F(ArtifactStoreTest, DeleteOfNothingSucceedsAsInMlflow) {
  EXPECT_TRUE(store_.Delete("never/existed").ok());
  ASSERT_TRUE(store_.PutBytes("f.txt", "x").ok());
  EXPECT_TRUE(store_.Delete("f.txt/below").ok());
}

TEST_F(ArtifactStoreTest, DeleteRefusesTheRoot) {
  ASSERT_TRUE(store_.PutBytes("keep.txt", "x").ok());
  EXPECT_EQ(store_.Delete("").code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_.Delete("/").code(), ErrorCode::kInvalidParameterValue);
  EXPECT_TRUE(fs::exists(Root() / "keep.txt"));
}

TEST_F(ArtifactStoreTest, DeleteTreeCountsTheBytesItFrees) {
  ASSERT_TRUE(store_.PutBytes("1/run/artifacts/a.bin", std::string(1000, 'a')).ok());
  ASSERT_TRUE(store_.PutBytes("1/run/artifacts/d/b.bin", std::string(24, 'b')).ok());
  ASSERT_TRUE(store_.PutBytes("1/run/artifacts/d/e/empty", "").ok());
  ASSERT_TRUE(store_.PutBytes("1/other/artifacts/c.bin", "ccc").ok());
  auto freed = store_.DeleteTree("1/run/artifacts");
  ASSERT_TRUE(freed.ok()) << freed.status().message();
  EXPECT_EQ(*freed, 1024u);
  EXPECT_FALSE(fs::exists(Root() / "1/run/artifacts"));
  EXPECT_TRUE(fs::exists(Root() / "1/other/artifacts/c.bin"));
}

TEST_F(ArtifactStoreTest, DeleteTreeOfAbsentPathFreesNothing) {
  auto freed = store_.DeleteTree("1/never/artifacts");
  ASSERT_TRUE(freed.ok());
  EXPECT_EQ(*freed, 0u);
}

TEST_F(ArtifactStoreTest, DeleteTreeOfAFileCountsIt) {
  ASSERT_TRUE(store_.PutBytes("lonely.bin", "12345678").ok());
  auto freed = store_.DeleteTree("lonely.bin");
  ASSERT_TRUE(freed.ok());
  EXPECT_EQ(*freed, 8u);
}

TEST_F(ArtifactStoreTest, DeleteTreeRemovesLinksButNotTheirTargets) {
  WriteFile(temp_.path() / "outside.bin", std::string(500, 'o'));
  ASSERT_TRUE(store_.PutBytes("run/real.bin", "12").ok());
  fs::create_symlink(temp_.path() / "outside.bin", Root() / "run/link.bin");
  auto freed = store_.DeleteTree("run");
  ASSERT_TRUE(freed.ok());
  EXPECT_EQ(*freed, 2u);
  EXPECT_TRUE(fs::exists(temp_.path() / "outside.bin"));
}

TEST_F(ArtifactStoreTest, DeleteTreeRefusesTheRoot) {
  EXPECT_EQ(store_.DeleteTree("").status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_TRUE(fs::is_directory(Root()));
}

TEST_F(ArtifactStoreTest, ResolveAcceptsOrdinaryPaths) {
  auto root = store_.Resolve("");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, Root());
  auto nested = store_.Resolve("1/abc/artifacts/model dir/file name (1).txt");
  ASSERT_TRUE(nested.ok()) << nested.status().message();
  EXPECT_EQ(*nested, Root() / "1/abc/artifacts/model dir/file name (1).txt");
  auto trailing = store_.Resolve("a/b/");
  ASSERT_TRUE(trailing.ok());
  EXPECT_EQ(*trailing, Root() / "a/b");
  EXPECT_TRUE(store_.Resolve("x/a:b/c~d/..e/e../...").ok());
  EXPECT_TRUE(store_.Resolve("%2e%2e/x").ok());  // already decoded by http: a literal name here
}

class UnsafePathTest : public ArtifactStoreTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(UnsafePathTest, IsInvalidEverywhere) {
  const std::string& path = GetParam();
  auto resolved = store_.Resolve(path);
  EXPECT_EQ(resolved.status().code(), ErrorCode::kInvalidParameterValue) << path;
  EXPECT_EQ(store_.PutBytes(path, "x").code(), ErrorCode::kInvalidParameterValue) << path;
  EXPECT_EQ(store_.Get(path).status().code(), ErrorCode::kInvalidParameterValue) << path;
  EXPECT_EQ(store_.List(path).status().code(), ErrorCode::kInvalidParameterValue) << path;
  EXPECT_EQ(store_.Delete(path).code(), ErrorCode::kInvalidParameterValue) << path;
  EXPECT_EQ(store_.DeleteTree(path).status().code(), ErrorCode::kInvalidParameterValue) << path;
}

INSTANTIATE_TEST_SUITE_P(Traversal, UnsafePathTest,
                         ::testing::Values("..", "../x", "a/../../x", "a/..", "a/../b", "/etc/passwd", "/", "//x",
                                           "./a", "a/./b", ".", "a//b", "a/b//", std::string("a\0b", 3),
                                           std::string("x\0/../../etc", 12), "a\\..\\..\\x", "C:/Windows", "c:x", "~/x",
                                           "~root/.ssh", "a#b", "a/.lathe-staging-0123456789abcdef0123456789abcdef",
                                           std::string(5000, 'a')));

TEST_F(ArtifactStoreTest, InvalidPathMessagesNameThePath) {
  auto resolved = store_.Resolve("a/../../secret");
  EXPECT_NE(resolved.status().message().find("a/../../secret"), std::string::npos) << resolved.status().message();
  auto with_nul = store_.Resolve(std::string("bad\0name", 8));
  EXPECT_EQ(with_nul.status().message().find('\0'), std::string::npos);
}

TEST_F(ArtifactStoreTest, OverlongComponentIsInvalid) {
  EXPECT_EQ(store_.Resolve("a/" + std::string(300, 'n')).status().code(), ErrorCode::kInvalidParameterValue);
}

TEST_F(ArtifactStoreTest, SymlinkPointingOutsideIsRefused) {
  TempDir outside;
  WriteFile(outside.path() / "secret.txt", "secret");
  fs::create_symlink(outside.path(), Root() / "escape");
  fs::create_symlink(outside.path() / "secret.txt", Root() / "secret-link");
  EXPECT_EQ(store_.Get("escape/secret.txt").status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_.Get("secret-link").status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_.List("escape").status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_.PutBytes("escape/planted.txt", "x").code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_.Delete("escape/secret.txt").code(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_.DeleteTree("escape").status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_FALSE(fs::exists(outside.path() / "planted.txt"));
  EXPECT_EQ(ReadFile(outside.path() / "secret.txt"), "secret");
}

TEST_F(ArtifactStoreTest, SymlinkInANestedDirectoryPointingOutsideIsRefused) {
  TempDir outside;
  ASSERT_TRUE(store_.PutBytes("run/a.txt", "x").ok());
  fs::create_symlink("../../..", Root() / "run/up");
  EXPECT_EQ(store_.Resolve("run/up/x").status().code(), ErrorCode::kInvalidParameterValue);
}

TEST_F(ArtifactStoreTest, DanglingSymlinkIsRefused) {
  TempDir outside;
  fs::create_symlink(outside.path() / "not-yet", Root() / "dangling");
  EXPECT_EQ(store_.PutBytes("dangling/x.txt", "x").code(), ErrorCode::kInvalidParameterValue);
  EXPECT_FALSE(fs::exists(outside.path() / "not-yet"));
}

TEST_F(ArtifactStoreTest, SymlinkStayingInsideIsFollowed) {
  ASSERT_TRUE(store_.PutBytes("real/file.txt", "inside").ok());
  fs::create_symlink(Root() / "real", Root() / "alias");
  auto file = store_.Get("alias/file.txt");
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(*file, Root() / "real/file.txt");
}

TEST(ArtifactStoreRootTest, RootReachedThroughASymlinkStillConfines) {
  TempDir temp;
  fs::create_directories(temp.path() / "real-root");
  fs::create_symlink(temp.path() / "real-root", temp.path() / "root-link");
  LocalArtifactStore store(temp.path() / "root-link");
  ASSERT_TRUE(store.PutBytes("a/b.txt", "x").ok());
  EXPECT_TRUE(fs::exists(temp.path() / "real-root/a/b.txt"));
  EXPECT_EQ(store.Resolve("../x").status().code(), ErrorCode::kInvalidParameterValue);
}

TEST_F(ArtifactStoreTest, RelativePathForProxyUris) {
  auto plain = RelativePathForUri(store_, "mlflow-artifacts:/1/abc/artifacts");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ(*plain, "1/abc/artifacts");
  auto with_authority = RelativePathForUri(store_, "mlflow-artifacts://tracking.example:5000/1/abc/artifacts");
  ASSERT_TRUE(with_authority.ok());
  EXPECT_EQ(*with_authority, "1/abc/artifacts");
  auto empty_authority = RelativePathForUri(store_, "mlflow-artifacts:///1/abc/artifacts/");
  ASSERT_TRUE(empty_authority.ok());
  EXPECT_EQ(*empty_authority, "1/abc/artifacts");
  auto root = RelativePathForUri(store_, "mlflow-artifacts:");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, "");
  auto authority_only = RelativePathForUri(store_, "mlflow-artifacts://host:5000");
  ASSERT_TRUE(authority_only.ok());
  EXPECT_EQ(*authority_only, "");
}

TEST_F(ArtifactStoreTest, RelativePathForLocalPathsInsideTheRoot) {
  std::string root = Root().string();
  auto file_uri = RelativePathForUri(store_, "file://" + root + "/2/def/artifacts");
  ASSERT_TRUE(file_uri.ok()) << file_uri.status().message();
  EXPECT_EQ(*file_uri, "2/def/artifacts");
  auto localhost = RelativePathForUri(store_, "file://localhost" + root + "/2/def/artifacts");
  ASSERT_TRUE(localhost.ok());
  EXPECT_EQ(*localhost, "2/def/artifacts");
  auto single_slash = RelativePathForUri(store_, "file:" + root + "/2/my%20run/artifacts");
  ASSERT_TRUE(single_slash.ok());
  EXPECT_EQ(*single_slash, "2/my run/artifacts");
  auto absolute = RelativePathForUri(store_, root + "/3/ghi/artifacts");
  ASSERT_TRUE(absolute.ok());
  EXPECT_EQ(*absolute, "3/ghi/artifacts");
  auto the_root = RelativePathForUri(store_, root);
  ASSERT_TRUE(the_root.ok());
  EXPECT_EQ(*the_root, "");
}

TEST_F(ArtifactStoreTest, RelativePathForOtherUrisIsInvalid) {
  std::string root = Root().string();
  for (const std::string& uri :
       {std::string("s3://bucket/1/abc/artifacts"), std::string("http://host/api/2.0/mlflow-artifacts/artifacts/1"),
        std::string("1/abc/artifacts"), std::string(""), std::string("mlflow-artifacts:/1/../../etc"),
        std::string("mlflow-artifacts:/1//abc"), "file://otherhost" + root + "/1", std::string("/etc/passwd"),
        "file://" + root + "/../outside", root + "-sibling/1", "file://" + root + "/1%00x"}) {
    auto relative = RelativePathForUri(store_, uri);
    EXPECT_EQ(relative.status().code(), ErrorCode::kInvalidParameterValue) << uri;
  }
}

}  // namespace
}  // namespace lathe::artifacts
