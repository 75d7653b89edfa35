// Entry point of the native addon: each engine registers its own functions.
#include <napi.h>
#include "bindings.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	InitUffd(env, exports);
	InitUffdAccess(env, exports);
	InitBpf(env, exports);
	InitKernel(env, exports);
	InitProbe(env, exports);
	InitLazyPages(env, exports);
	return exports;
}

NODE_API_MODULE(faultc_native, Init)
