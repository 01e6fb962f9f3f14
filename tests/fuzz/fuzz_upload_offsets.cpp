// libFuzzer harness for resumable upload offsets (src/data/uploads): a random sequence of chunks
// sent at random offsets (some stale, some ahead, some past the declared size), with restarts
// (the staging reopened from its recorded state) in between, against a model. A chunk is
// accepted exactly when check_chunk says so; the staged data, finished into a blob store, is
// exactly the model's bytes; an incomplete upload never finishes.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/crypto.hpp"
#include "data/blobs.hpp"
#include "data/uploads.hpp"

namespace {
namespace fs = std::filesystem;
using namespace atrium::data;

struct World {
  fs::path dir;
  std::optional<MasterKey> key;
  std::unique_ptr<BlobStore> store;
  World() {
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir = base / ("atrium-fuzz-uploads-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    key = *MasterKey::create(dir / "master.key");
    store = std::move(*BlobStore::open(*MasterKey::load(dir / "master.key"), local_backend(dir / "blobs")));
  }
  ~World() { fs::remove_all(dir); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World w;
  if (size < 2) return 0;
  const std::int64_t declared = (data[0] | (data[1] << 8)) & 0x0fff;
  std::size_t i = 2;
  const fs::path file = w.dir / "u.stage";
  fs::remove(file);
  auto st = Staging::create(*w.key, file, "u", declared);
  if (!st) __builtin_trap();
  st->set_sync(false);
  std::string model;
  while (i + 2 <= size) {
    std::uint8_t op = data[i], len = data[i + 1];
    i += 2;
    if (op == 0xff) {  // a restart: reopen from the recorded state
      auto re = Staging::open(*w.key, file, "u", st->state());
      if (!re) __builtin_trap();
      st = std::move(re);
      st->set_sync(false);
      continue;
    }
    std::int64_t at = static_cast<std::int64_t>(model.size()) + static_cast<std::int8_t>(op) / 8;
    std::string chunk;
    for (std::size_t k = 0; k < len; ++k) chunk.push_back(static_cast<char>(data[(i + k) % size] ^ k));
    bool allowed = bool(check_chunk(declared, static_cast<std::int64_t>(model.size()), at,
                                    static_cast<std::int64_t>(chunk.size())));
    auto r = st->append(at, chunk);
    if (bool(r) != allowed) __builtin_trap();
    if (r) model += chunk;
    if (st->state().offset != static_cast<std::int64_t>(model.size())) __builtin_trap();
  }
  auto info = st->finish(*w.store, atrium::crypto::sha256_hex(model));
  if (static_cast<std::int64_t>(model.size()) == declared) {
    if (!info) __builtin_trap();
    auto back = w.store->get(info->id);
    if (!back || *back != model) __builtin_trap();
    (void)w.store->remove(info->id);
  } else if (info || info.error().type != "upload-incomplete") {
    __builtin_trap();
  }
  (void)st->discard();
  return 0;
}
