// Imports: an image made from a file the project already holds (uploaded into its files with the
// resumable uploads): an Apptainer/Singularity .sif (its squashfs root partition), a squashfs
// image, or an OCI archive (`skopeo copy ... oci-archive:x.tar`, `podman save --format
// oci-archive`). POST /api/v1/projects/{id}/images/import checks what it cheaply can (the file
// exists, its first bytes are the format, the quota holds its size) and answers 202 with a pending
// image; the durable images.import task decrypts the file into a work directory, unpacks it as the
// unpack uid, neutralises it and stores it under its digest (SIF/squashfs: the SHA-256 of the
// squashfs bytes; OCI archive: the manifest digest). A failure leaves the image failed, with why,
// and stores nothing.
#pragma once

namespace atrium::data {
class BlobStore;
}
namespace atrium::http {
class Api;
}
namespace atrium::tasks {
class Queue;
}

namespace atrium::images {

class Service;

void add_import_routes(http::Api& api, Service& svc, data::BlobStore& blobs);
void add_import_tasks(tasks::Queue& queue, Service& svc, data::BlobStore& blobs);

}  // namespace atrium::images
