// Module entry point: registers every part of the addon.
#include <napi.h>

#include "addon_data.h"
#include "common.h"
#include "link.h"
#include "object.h"
#include "ringbuf.h"

#include <bpf/btf.h>

namespace acg {

void InitMaps(Napi::Env env, Napi::Object exports);
void InitProbes(Napi::Env env, Napi::Object exports);
void InitSpawn(Napi::Env env, Napi::Object exports);

AddonData::~AddonData() {
  if (vmlinux != nullptr) btf__free(vmlinux);
}

AddonData* Data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

static Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), ACG_LIBBPF_VERSION); }

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  InstallLibbpfPrint();
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion, "libbpfVersion"));
  exports.Set("setLogCallback", Napi::Function::New(env, SetLogCallback, "setLogCallback"));
  NativeObject::Init(env, exports);
  NativeLink::Init(env, exports);
  NativeRingBuffer::Init(env, exports);
  InitMaps(env, exports);
  InitProbes(env, exports);
  InitSpawn(env, exports);
  return exports;
}

}  // namespace acg

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return acg::Init(env, exports); }

NODE_API_MODULE(acg_native, InitModule)
