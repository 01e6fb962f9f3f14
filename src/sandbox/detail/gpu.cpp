#include "sandbox/detail/gpu.hpp"

#include <dirent.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace atrium::sandbox::detail {

std::vector<int> gpu_minors() {
  std::vector<int> out;
  DIR* d = ::opendir("/dev");
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    const char* n = e->d_name;
    if (std::strncmp(n, "nvidia", 6) != 0 || n[6] == '\0') continue;
    bool digits = true;
    for (const char* p = n + 6; *p; ++p) digits = digits && *p >= '0' && *p <= '9';
    if (digits) out.push_back(std::atoi(n + 6));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// The few NVML entry points used, by their stable C ABI (nvml.h is not needed to build).
struct Nvml {
  void* lib = nullptr;
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*count)(unsigned*) = nullptr;
  int (*by_index)(unsigned, void**) = nullptr;
  int (*minor)(void*, unsigned*) = nullptr;
  int (*uuid)(void*, char*, unsigned) = nullptr;

  bool load() {
    lib = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    init = reinterpret_cast<int (*)()>(::dlsym(lib, "nvmlInit_v2"));
    shutdown = reinterpret_cast<int (*)()>(::dlsym(lib, "nvmlShutdown"));
    count = reinterpret_cast<int (*)(unsigned*)>(::dlsym(lib, "nvmlDeviceGetCount_v2"));
    by_index = reinterpret_cast<int (*)(unsigned, void**)>(::dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
    minor = reinterpret_cast<int (*)(void*, unsigned*)>(::dlsym(lib, "nvmlDeviceGetMinorNumber"));
    uuid = reinterpret_cast<int (*)(void*, char*, unsigned)>(::dlsym(lib, "nvmlDeviceGetUUID"));
    return init && shutdown && count && by_index && minor && uuid && init() == 0;
  }
  ~Nvml() {
    if (lib && init && shutdown) shutdown();
    if (lib) ::dlclose(lib);
  }
};

}  // namespace

bool nvml_available() {
  Nvml n;
  return n.load();
}

std::map<int, std::string> nvml_uuids_by_minor() {
  std::map<int, std::string> out;
  Nvml n;
  if (!n.load()) return out;
  unsigned count = 0;
  if (n.count(&count) != 0) return out;
  for (unsigned i = 0; i < count; ++i) {
    void* dev = nullptr;
    unsigned minor = 0;
    char buf[96] = {};
    if (n.by_index(i, &dev) != 0 || n.minor(dev, &minor) != 0 || n.uuid(dev, buf, sizeof buf) != 0) continue;
    out[static_cast<int>(minor)] = buf;
  }
  return out;
}

}  // namespace atrium::sandbox::detail
