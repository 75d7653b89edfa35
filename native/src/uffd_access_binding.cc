// JavaScript side of uffd_access.c: uffdAccessProbe() -> { syscall,
// userModeOnly, device, deviceIoctl, features }, each an errno (0: works).
#include <napi.h>
#include "bindings.h"

extern "C" {
#include "uffd_access.h"
}

namespace {

Napi::Value Probe(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	struct fc_uffd_access a;

	fc_uffd_access_probe(&a);
	Napi::Object o = Napi::Object::New(env);
	o.Set("syscall", Napi::Number::New(env, a.syscall_err));
	o.Set("userModeOnly", Napi::Number::New(env, a.user_mode_err));
	o.Set("device", Napi::Number::New(env, a.dev_err));
	o.Set("deviceIoctl", Napi::Number::New(env, a.dev_ioctl_err));
	o.Set("features", Napi::BigInt::New(env, (uint64_t)a.features));
	return o;
}

} // namespace

void InitUffdAccess(Napi::Env env, Napi::Object exports)
{
	exports.Set("uffdAccessProbe", Napi::Function::New(env, Probe, "uffdAccessProbe"));
}
