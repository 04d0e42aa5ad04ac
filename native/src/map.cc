// Map operations by fd. The TypeScript layer keeps the fd's owner (object or
// pinned-map handle) alive and passes key/value sizes; keys and values are
// raw Buffers encoded by the caller.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common.h"

namespace acg {

namespace {

void CheckSize(const Napi::Env& env, const Napi::Buffer<uint8_t>& b, size_t want, const char* what) {
  if (b.Length() != want)
    ThrowType(env, std::string(what) + " must be " + std::to_string(want) + " bytes, got " + std::to_string(b.Length()));
}

struct Sizes {
  size_t key;
  size_t value;  // as seen by user space (per-CPU maps: one 8-aligned slot per possible CPU)
};

bool IsPerCpu(__u32 t) {
  return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
         t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

// The kernel reads key_size/value_size bytes from our buffers, so every call
// checks the Buffers against the map's real sizes first.
Sizes MapSizes(const Napi::Env& env, int fd, const char* op) {
  struct bpf_map_info mi;
  memset(&mi, 0, sizeof(mi));
  __u32 len = sizeof(mi);
  int err = bpf_map_get_info_by_fd(fd, &mi, &len);
  if (err) ThrowErrno(env, err, op, "fd " + std::to_string(fd) + " is not a BPF map");
  size_t v = mi.value_size;
  if (IsPerCpu(mi.type)) {
    int n = libbpf_num_possible_cpus();
    if (n < 0) ThrowErrno(env, n, "libbpf_num_possible_cpus");
    v = ((v + 7) / 8) * 8 * static_cast<size_t>(n);
  }
  return {mi.key_size, v};
}

Napi::Value MapInfoByFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  struct bpf_map_info mi;
  memset(&mi, 0, sizeof(mi));
  __u32 len = sizeof(mi);
  int err = bpf_map_get_info_by_fd(fd, &mi, &len);
  if (err) ThrowErrno(env, err, "bpf_map_get_info_by_fd");
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", mi.id);
  o.Set("name", std::string(mi.name, strnlen(mi.name, sizeof(mi.name))));
  o.Set("type", mi.type);
  const char* tn = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(mi.type));
  o.Set("typeName", tn != nullptr ? tn : "unknown");
  o.Set("keySize", mi.key_size);
  o.Set("valueSize", mi.value_size);
  o.Set("maxEntries", mi.max_entries);
  o.Set("flags", mi.map_flags);
  o.Set("userValueSize", static_cast<double>(MapSizes(env, fd, "bpf_map_get_info_by_fd").value));
  return o;
}

// mapLookup(fd, key, flags=0) -> Buffer | null (absent key)
Napi::Value MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  auto key = ArgBuffer(info, 1, "key");
  int64_t flags = info.Length() > 2 && !info[2].IsUndefined() ? ArgInt(info, 2, "flags", 0, UINT32_MAX) : 0;
  Sizes sz = MapSizes(env, fd, "bpf_map_lookup_elem");
  CheckSize(env, key, sz.key, "key");
  size_t vsz = sz.value;
  std::vector<uint8_t> val(vsz + 1);
  int err = bpf_map_lookup_elem_flags(fd, key.Data(), val.data(), static_cast<__u64>(flags));
  if (err == -ENOENT) return env.Null();
  if (err) ThrowErrno(env, err, "bpf_map_lookup_elem");
  return Napi::Buffer<uint8_t>::Copy(env, val.data(), vsz);
}

// mapUpdate(fd, key, value, flags) ; flags BPF_ANY=0, BPF_NOEXIST=1, BPF_EXIST=2, BPF_F_LOCK=4
Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  auto key = ArgBuffer(info, 1, "key");
  auto val = ArgBuffer(info, 2, "value");
  int64_t flags = info.Length() > 3 && !info[3].IsUndefined() ? ArgInt(info, 3, "flags", 0, UINT32_MAX) : 0;
  Sizes sz = MapSizes(env, fd, "bpf_map_update_elem");
  CheckSize(env, key, sz.key, "key");
  CheckSize(env, val, sz.value, "value");
  int err = bpf_map_update_elem(fd, key.Data(), val.Data(), static_cast<__u64>(flags));
  if (err) ThrowErrno(env, err, "bpf_map_update_elem");
  return env.Undefined();
}

// mapDelete(fd, key) -> boolean (false when the key was absent)
Napi::Value MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  auto key = ArgBuffer(info, 1, "key");
  CheckSize(env, key, MapSizes(env, fd, "bpf_map_delete_elem").key, "key");
  int err = bpf_map_delete_elem(fd, key.Data());
  if (err == -ENOENT) return Napi::Boolean::New(env, false);
  if (err) ThrowErrno(env, err, "bpf_map_delete_elem");
  return Napi::Boolean::New(env, true);
}

// mapNextKey(fd, key | null) -> Buffer | null (end of iteration)
Napi::Value MapNextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Sizes sz = MapSizes(env, fd, "bpf_map_get_next_key");
  const void* cur = nullptr;
  if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined()) {
    auto k = ArgBuffer(info, 1, "key");
    CheckSize(env, k, sz.key, "key");
    cur = k.Data();
  }
  std::vector<uint8_t> next(sz.key);
  int err = bpf_map_get_next_key(fd, cur, next.data());
  if (err == -ENOENT) return env.Null();
  if (err) ThrowErrno(env, err, "bpf_map_get_next_key");
  return Napi::Buffer<uint8_t>::Copy(env, next.data(), next.size());
}

// mapLookupBatch(fd, chunk=256) -> { keys: Buffer, values: Buffer, count }
// Dumps the whole map with BPF_MAP_LOOKUP_BATCH. Throws (e.g. EINVAL/ENOTSUP)
// where the map type has no batch support; callers fall back to iteration.
Napi::Value MapLookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Sizes sz = MapSizes(env, fd, "bpf_map_lookup_batch");
  int64_t ksz = static_cast<int64_t>(sz.key), vsz = static_cast<int64_t>(sz.value);
  int64_t chunk = info.Length() > 1 && !info[1].IsUndefined() ? ArgInt(info, 1, "chunk", 1, 1 << 20) : 256;
  std::vector<uint8_t> keys, vals;
  std::vector<uint8_t> inTok(std::max<int64_t>(ksz, 8)), outTok(std::max<int64_t>(ksz, 8));
  bool first = true;
  size_t total = 0;
  for (;;) {
    __u32 count = static_cast<__u32>(chunk);
    keys.resize((total + chunk) * ksz);
    vals.resize((total + chunk) * vsz);
    LIBBPF_OPTS(bpf_map_batch_opts, bo);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : inTok.data(), outTok.data(), keys.data() + total * ksz, vals.data() + total * vsz,
                                   &count, &bo);
    if (err && err != -ENOENT) {
      if (err == -ENOSPC && count == 0) {  // a hash bucket larger than chunk
        chunk *= 2;
        continue;
      }
      ThrowErrno(env, err, "bpf_map_lookup_batch");
    }
    total += count;
    if (err == -ENOENT) break;
    inTok = outTok;
    first = false;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), total * ksz));
  o.Set("values", Napi::Buffer<uint8_t>::Copy(env, vals.data(), total * vsz));
  o.Set("count", static_cast<double>(total));
  return o;
}

// mapUpdateBatch(fd, keys, values, count, flags=0)
Napi::Value MapUpdateBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  auto keys = ArgBuffer(info, 1, "keys");
  auto vals = ArgBuffer(info, 2, "values");
  int64_t count = ArgInt(info, 3, "count", 0, UINT32_MAX);
  int64_t flags = info.Length() > 4 ? ArgInt(info, 4, "flags", 0, UINT32_MAX) : 0;
  if (count == 0) return env.Undefined();
  Sizes sz = MapSizes(env, fd, "bpf_map_update_batch");
  if (keys.Length() != sz.key * static_cast<size_t>(count) || vals.Length() != sz.value * static_cast<size_t>(count))
    ThrowType(env, "keys and values must hold exactly `count` entries of the map's key/value size");
  __u32 n = static_cast<__u32>(count);
  LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = static_cast<__u64>(flags));
  int err = bpf_map_update_batch(fd, keys.Data(), vals.Data(), &n, &bo);
  if (err) ThrowErrno(env, err, "bpf_map_update_batch");
  return env.Undefined();
}

// objGet(path) -> fd of a pinned map/link/prog (bpf_obj_get), O_CLOEXEC.
Napi::Value ObjGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) ThrowErrno(env, errno, "bpf_obj_get", path);
  return Napi::Number::New(env, fd);
}

// objPin(fd, path)
Napi::Value ObjPin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  std::string path = ArgString(info, 1, "path");
  int err = bpf_obj_pin(fd, path.c_str());
  if (err) ThrowErrno(env, err, "bpf_obj_pin", path);
  return env.Undefined();
}

// unpin(path): removes a pin from bpffs (unlink).
Napi::Value Unpin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  if (unlink(path.c_str()) != 0) ThrowErrno(env, errno, "unlink", path);
  return env.Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  if (close(fd) != 0) ThrowErrno(env, errno, "close");
  return env.Undefined();
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) ThrowErrno(info.Env(), n, "libbpf_num_possible_cpus");
  return Napi::Number::New(info.Env(), n);
}

}  // namespace

void InitMaps(Napi::Env env, Napi::Object exports) {
  exports.Set("mapInfoByFd", Napi::Function::New(env, MapInfoByFd, "mapInfoByFd"));
  exports.Set("mapLookup", Napi::Function::New(env, MapLookup, "mapLookup"));
  exports.Set("mapUpdate", Napi::Function::New(env, MapUpdate, "mapUpdate"));
  exports.Set("mapDelete", Napi::Function::New(env, MapDelete, "mapDelete"));
  exports.Set("mapNextKey", Napi::Function::New(env, MapNextKey, "mapNextKey"));
  exports.Set("mapLookupBatch", Napi::Function::New(env, MapLookupBatch, "mapLookupBatch"));
  exports.Set("mapUpdateBatch", Napi::Function::New(env, MapUpdateBatch, "mapUpdateBatch"));
  exports.Set("objGet", Napi::Function::New(env, ObjGet, "objGet"));
  exports.Set("objPin", Napi::Function::New(env, ObjPin, "objPin"));
  exports.Set("unpin", Napi::Function::New(env, Unpin, "unpin"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus, "numPossibleCpus"));
}

}  // namespace acg
