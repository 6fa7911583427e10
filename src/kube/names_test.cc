#include "kube/names.h"

#include "gtest/gtest.h"

namespace lifeboat::kube {
namespace {

TEST(NamesTest, ObjectNames) {
  EXPECT_TRUE(ValidateObjectName("secret", "kube-apiserver").ok());
  EXPECT_TRUE(ValidateObjectName("secret", "a.b-c").ok());
  for (const char* bad : {"", ".", "..", "a/b", "../etc", "UPPER", "a b", "a\nb", "/abs"}) {
    EXPECT_FALSE(ValidateObjectName("secret", bad).ok()) << bad;
  }
  EXPECT_FALSE(ValidateObjectName("secret", std::string(254, 'a')).ok());
}

TEST(NamesTest, DataKeys) {
  for (const char* good : {"ca.crt", "token", "Config_File-1.yaml", ".hidden", "..data"}) {
    EXPECT_TRUE(ValidateDataKey(good).ok()) << good;
  }
  for (const char* bad : {"", ".", "..", "a/b", "../../etc/shadow", "a b", "é"}) {
    EXPECT_FALSE(ValidateDataKey(bad).ok()) << bad;
  }
}

TEST(NamesTest, RelativePaths) {
  EXPECT_TRUE(ValidateRelativePath("a/b/c.crt").ok());
  for (const char* bad : {"", "/etc/passwd", "a/../../b", "./a", "a//b", "a/"}) {
    EXPECT_FALSE(ValidateRelativePath(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace lifeboat::kube
