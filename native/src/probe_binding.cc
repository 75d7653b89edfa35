// JavaScript side of probe.c: probes.uffd() and probes.libbpfVersion().
#include <napi.h>
#include <cstring>
#include "bindings.h"

extern "C" {
#include "probe.h"
}

namespace {

Napi::Value Uffd(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	struct faultc_uffd_probe p;

	faultc_probe_uffd(&p);
	Napi::Object o = Napi::Object::New(env);
	o.Set("ok", Napi::Boolean::New(env, p.err == 0));
	if (p.err) {
		o.Set("errno", Napi::Number::New(env, p.err));
		o.Set("step", Napi::String::New(env, p.step));
		o.Set("error", Napi::String::New(env, strerror(p.err)));
	}
	o.Set("userModeOnly", Napi::Boolean::New(env, p.user_mode_only != 0));
	o.Set("features", Napi::BigInt::New(env, p.features));
	o.Set("ioctls", Napi::BigInt::New(env, p.ioctls));
	return o;
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo &info)
{
	return Napi::String::New(info.Env(), faultc_libbpf_version());
}

} // namespace

void InitProbe(Napi::Env env, Napi::Object exports)
{
	Napi::Object probes = Napi::Object::New(env);
	probes.Set("uffd", Napi::Function::New(env, Uffd, "uffd"));
	probes.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion, "libbpfVersion"));
	exports.Set("probes", probes);
}
