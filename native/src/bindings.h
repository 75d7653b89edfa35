// Each binding file adds its functions to the addon's exports.
#pragma once
#include <napi.h>

void InitUffd(Napi::Env env, Napi::Object exports);   // uffd_binding.cc
void InitUffdAccess(Napi::Env env, Napi::Object exports); // uffd_access_binding.cc
void InitBpf(Napi::Env env, Napi::Object exports);    // bpf_binding.cc
void InitKernel(Napi::Env env, Napi::Object exports); // kernel_binding.cc
void InitProbe(Napi::Env env, Napi::Object exports);  // probe_binding.cc
void InitLazyPages(Napi::Env env, Napi::Object exports); // criu/lazy_binding.cc
