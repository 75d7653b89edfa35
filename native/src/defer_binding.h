// What the uffd handlers serve for both engines, in JavaScript: `defer`
// handlers (uffd/defer.c) and the counters of http sources. Shared by the
// uffd and kernel engine bindings (the kernel engine's watcher serves both).
// The handler thread that takes a deferred fault
// queues a request in the engine and wakes JavaScript through a data-less
// Notifier, like the event path: the JS callback takes the queued requests
// itself (takeDeferred) and answers each (deferReply). No request is ever
// carried by the thread-safe function, so a wake-up dropped at teardown
// loses nothing and leaks nothing; the waiting fault ends at the engine's
// stop (SIGBUS, deferFailed) or at its deadline (deferTimeout).
#pragma once
#include <napi.h>
#include <cerrno>
#include <cstdint>
#include "binding_util.h"

extern "C" {
#include "uffd_engine.h"
#include "uffd/source_http.h"
}

namespace faultc_binding {

// fc_engine_set_defer()'s notify: ctx is the holder's defer Notifier.
inline int NotifyDefer(void *ctx)
{
	return static_cast<Notifier *>(ctx)->Notify() ? 0 : -1;
}

// Up to 256 requests taken with take(out, max) -> n, as plain objects.
template <class Take> Napi::Array TakeDeferred(Napi::Env env, Take take)
{
	struct fc_defer_request req[256];
	size_t n = take(req, 256);
	Napi::Array a = Napi::Array::New(env, n);

	for (size_t i = 0; i < n; i++) {
		const struct fc_defer_request *r = &req[i];
		Napi::Object o = Napi::Object::New(env);

		o.Set("id", Napi::BigInt::New(env, (uint64_t)r->id));
		o.Set("region", Napi::Number::New(env, r->region));
		o.Set("offset", Napi::BigInt::New(env, (uint64_t)r->offset));
		o.Set("address", Napi::BigInt::New(env, (uint64_t)r->address));
		o.Set("tid", Napi::Number::New(env, r->tid));
		o.Set("write", Napi::Boolean::New(env, r->write != 0));
		a.Set((uint32_t)i, o);
	}
	return a;
}

// deferReply(id: bigint, kind: number, bytes?: Uint8Array) -> whether the
// fault still waited; reply(id, kind, bytes, len) is the engine's.
template <class Reply> Napi::Value DeferReply(const Napi::CallbackInfo &info, Reply reply)
{
	Napi::Env env = info.Env();
	bool lossless = true;

	if (info.Length() < 2 || !info[0].IsBigInt() || !info[1].IsNumber()) {
		Napi::TypeError::New(env, "deferReply(id: bigint, kind: number, bytes?: Uint8Array)").ThrowAsJavaScriptException();
		return env.Undefined();
	}
	uint64_t id = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
	uint32_t kind = info[1].As<Napi::Number>().Uint32Value();
	const uint8_t *bytes = nullptr;
	size_t len = 0;
	if (info.Length() > 2 && info[2].IsTypedArray()) {
		Napi::Uint8Array a = info[2].As<Napi::Uint8Array>();
		bytes = a.Data();
		len = a.ByteLength();
	}
	int rc = reply(id, kind, bytes, len);
	if (rc == -EINVAL) {
		Napi::RangeError::New(env, "deferReply: a page is at most 4096 bytes").ThrowAsJavaScriptException();
		return env.Undefined();
	}
	return Napi::Boolean::New(env, rc == 0);
}

// setDefer(enabled: boolean, deadlineMs?: number): the arguments.
inline void DeferArgs(const Napi::CallbackInfo &info, bool *enabled, unsigned *deadline_ms)
{
	*enabled = info.Length() > 0 && info[0].ToBoolean();
	*deadline_ms = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
}

// httpStats(source) -> { requests, retries, bytes, failures, readNs, transferNs,
// connects, overlapped, lastCause, lastStatus },
// or null for a file source; get(source, &st) is the engine's.
template <class Get> Napi::Value HttpStats(const Napi::CallbackInfo &info, Get get)
{
	Napi::Env env = info.Env();
	struct fc_http_stats st;

	if (info.Length() < 1 || !info[0].IsNumber())
		return env.Undefined();
	if (get(info[0].As<Napi::Number>().Uint32Value(), &st) < 0)
		return env.Null();
	Napi::Object o = Napi::Object::New(env);
	o.Set("requests", (double)st.requests);
	o.Set("retries", (double)st.retries);
	o.Set("bytes", (double)st.bytes);
	o.Set("failures", (double)st.failures);
	o.Set("readNs", (double)st.read_ns);
	o.Set("transferNs", (double)st.transfer_ns);
	o.Set("connects", (double)st.connects);
	o.Set("overlapped", (double)st.overlapped);
	o.Set("lastCause", (double)st.last_cause);
	o.Set("lastStatus", (double)st.last_status);
	return o;
}

} // namespace faultc_binding
