// Private to images/ (import.cpp, routes_import.cpp): the two halves of an import.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "data/blobs.hpp"
#include "images/service_impl.hpp"

namespace atrium::images::detail {

// The formats an import reads, and what the first bytes of each look like (sniff_format).
bool valid_import_format(const std::string& format);
std::string sniffed_as(const std::string& format);  // "sif", "squashfs" or "tar"

// What the route checked, for the task.
struct ImportFile {
  std::string path, blob_id, format;
  std::int64_t size = 0;
};

// Inserts the pending image and enqueues images.import (in one transaction, audited).
Result<Image> start_import(Service::Impl& svc, const NewImage& req, const ImportFile& file);
// The task: never retried for a bad file (the image fails with why); idempotent.
Status import_task(Service::Impl& svc, data::BlobStore& blobs, const nlohmann::json& payload);

}  // namespace atrium::images::detail
