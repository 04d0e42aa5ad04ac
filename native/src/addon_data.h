// Per-environment (per Node thread) state of the addon.
#pragma once

#include <napi.h>

struct btf;

namespace acg {

struct AddonData {
  Napi::FunctionReference logCallback;  // JS (level, message) => void, or empty
  Napi::FunctionReference objectCtor;
  Napi::FunctionReference linkCtor;
  Napi::FunctionReference ringCtor;
  struct btf* vmlinux = nullptr;  // cached vmlinux BTF, loaded on first probe
  int vmlinuxErr = 0;             // errno of the failed load, if any
  bool vmlinuxTried = false;
  ~AddonData();
};

AddonData* Data(Napi::Env env);

}  // namespace acg
