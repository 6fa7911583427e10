// The self-hosted assets `start` creates: every object of <asset-dir>/manifests, in the order
// the API server can accept them. Pure apart from reading the files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kube/codec.h"

namespace lifeboat::bootstrap {

using kube::Json;

struct Manifest {
  std::string file;  // file name inside the manifests dir
  int index = 0;     // document index in that file
  Json object;

  // "Deployment kube-system/kube-scheduler (from 30-controllers.yaml)"
  std::string Describe() const;
};

struct ManifestSet {
  std::vector<Manifest> manifests;
  std::vector<std::string> errors;  // files or documents that could not be read, with the reason
};

// Reads *.yaml, *.yml and *.json of `dir` (not recursive; hidden files skipped) in file-name
// order; multi-document files and `kind: List` are expanded. Unreadable files and documents
// without apiVersion/kind/metadata.name go to `errors`.
absl::StatusOr<ManifestSet> LoadManifests(const std::filesystem::path& dir);

// Namespaces first, then CustomResourceDefinitions, then the rest; stable otherwise.
std::vector<Manifest> CreationOrder(std::vector<Manifest> manifests);

}  // namespace lifeboat::bootstrap
