// Decryption of values kube-apiserver encrypted at rest, driven by the API server's own
// --encryption-provider-config file (apiserver.config.k8s.io/v1 EncryptionConfiguration, or
// the legacy `kind: EncryptionConfig`, `apiVersion: v1`).
//
// Read semantics are the API server's (v1.20): the providers configured for the value's
// resource are tried in order, each by its prefix `k8s:enc:<provider>:v1:<key name>:`; within a
// provider the keys are tried by name; `identity` accepts anything not starting `k8s:enc:`.
// Supported: aescbc (AES-CBC, PKCS#7, 16-byte IV), aesgcm (AES-GCM, 12-byte nonce, the full
// etcd key as additional data), secretbox (XSalsa20-Poly1305, 24-byte nonce), identity.
// kms values need the KMS plugin and are reported as Unimplemented.
//
// The resource comes from the etcd key: `<etcd prefix>/secrets/<ns>/<name>` is `secrets`,
// `<prefix>/deployments/...` is `deployments.apps`, and so on (the API server's 1.20 layout).
// Errors name the etcd key, provider and key name; they never contain key material or
// plaintext.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lifeboat::storage {

// A Kubernetes group/resource pair; group is empty for the core group.
struct GroupResource {
  std::string group;
  std::string resource;
  bool operator==(const GroupResource&) const = default;
  // "secrets", "deployments.apps": the spelling EncryptionConfiguration uses.
  std::string ToString() const { return group.empty() ? resource : resource + "." + group; }
};

// Which resource the object stored at `etcd_key` belongs to, given the API server's
// --etcd-prefix. InvalidArgument if the key is not under the prefix.
absl::StatusOr<GroupResource> ResourceForKey(absl::string_view etcd_key,
                                             absl::string_view etcd_prefix = "/registry");

class Transformer {
 public:
  // Parses an EncryptionConfiguration (YAML or JSON). `source` names it in messages (the file
  // path). Keys are decoded and their sizes checked here, so a bad config fails early:
  // InvalidArgument naming the resource entry, provider and key (never the secret).
  static absl::StatusOr<std::unique_ptr<Transformer>> FromConfig(
      absl::string_view config_text, absl::string_view source,
      absl::string_view etcd_prefix = "/registry");

  // Reads and parses the file at `path`. NotFound if it does not exist.
  static absl::StatusOr<std::unique_ptr<Transformer>> FromFile(
      const std::string& path, absl::string_view etcd_prefix = "/registry");

  ~Transformer();  // wipes the keys from memory
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;

  // The plaintext of `value` as stored at `etcd_key`: decrypted, or unchanged when an identity
  // provider (or no configuration at all) covers the resource. Failures, none worth retrying:
  //  - FailedPrecondition: no configured provider/key matches the value's prefix (wrong or
  //    incomplete config), or the value is plain but the resource has no identity provider;
  //  - InvalidArgument: a matching key failed to decrypt (wrong key material, corrupted or
  //    truncated value, bad padding);
  //  - Unimplemented: only a kms provider matches.
  absl::StatusOr<std::string> Decrypt(absl::string_view etcd_key, absl::string_view value) const;

  // The config's source, for messages.
  const std::string& source() const { return source_; }

  struct Key {
    std::string name;
    std::string secret;  // raw key bytes
  };
  struct Provider {
    enum Kind { kAesCbc, kAesGcm, kSecretbox, kIdentity, kKms } kind;
    std::vector<Key> keys;  // aescbc, aesgcm, secretbox
    std::string kms_name;   // kms
  };
  struct Rule {
    std::vector<std::string> resources;  // as written: "secrets", "deployments.apps", "*.*"
    std::vector<Provider> providers;
  };

 private:
  Transformer() = default;
  // Providers that apply to `resource`, in config order (every matching rule, as 1.20 does).
  std::vector<const Provider*> ProvidersFor(const GroupResource& resource) const;

  std::string source_;
  std::string etcd_prefix_;
  std::vector<Rule> rules_;
};

}  // namespace lifeboat::storage
