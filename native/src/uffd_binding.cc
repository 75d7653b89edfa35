// JavaScript side of native/src/uffd/ and uffd_touch.c.
//
// Region memory is handed out as an external ArrayBuffer over the mapping:
// V8 never reads or writes it on its own, and a JavaScript access to a
// missing page blocks the JS thread in the kernel until a handler thread
// resolves it. The JS thread is never a handler.
//
// Lifetime: the engine closes on close(), or when the wrapper and every
// ArrayBuffer over its regions have been collected, whichever comes first.
// close() detaches the ArrayBuffers so no JavaScript can reach unmapped memory.
#include <napi.h>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
#include "bindings.h"
#include "binding_util.h"
#include "defer_binding.h"

extern "C" {
#include "uffd_engine.h"
#include "uffd_touch.h"
#include "uffd/source_http.h"
}

namespace {

using faultc_binding::CodedError;
using faultc_binding::StartTouch;
using faultc_binding::ToU64;
using faultc_binding::TouchDone;
using faultc_binding::TouchWorker;

Napi::Error UffdError(Napi::Env env, const std::string &msg, int err)
{
	return CodedError(env, "FAULTC_UFFD_", faultc_binding::ErrnoName(err), msg, err);
}

// Shared by the wrapper and every ArrayBuffer over a region.
struct Holder {
	struct fc_engine *engine = nullptr;
	std::mutex mu;
	std::condition_variable cv;
	int touchers = 0;	// touch workers running over region memory
	faultc_binding::Notifier events;	// outlives the handler threads
	faultc_binding::Notifier defers;	// wakes the `defer` handler; likewise
	std::vector<struct faultc_event> last_events;	// queued when the engine stopped

	void Close()
	{
		std::unique_lock<std::mutex> lock(mu);
		// Touch threads may still be faulting on region memory: the
		// handlers (never paused from here on) keep resolving until they
		// are done, then unmap.
		if (engine)
			fc_engine_pause(engine, 0);
		cv.wait(lock, [this] { return touchers == 0; });
		if (engine) {
			fc_engine_stop(engine);
			// Events of faults resolved while stopping are not lost.
			struct faultc_event ev[1024];
			size_t n;
			while ((n = fc_engine_drain_events(engine, ev, 1024)) > 0)
				last_events.insert(last_events.end(), ev, ev + n);
			fc_engine_close(engine);
			engine = nullptr;
		}
		events.Release();
		defers.Release();
	}
	~Holder() { Close(); }
};

void OnEvents(void *ctx)
{
	// Data-less: the JS callback drains the queue itself, in batches.
	static_cast<faultc_binding::Notifier *>(ctx)->Notify();
}

class UffdEngine : public Napi::ObjectWrap<UffdEngine> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "UffdEngine", {
			InstanceMethod("addRegion", &UffdEngine::AddRegion),
			InstanceMethod("stats", &UffdEngine::Stats),
			InstanceMethod("dirtyPages", &UffdEngine::DirtyPages),
			InstanceMethod("resetDirty", &UffdEngine::ResetDirty),
			InstanceMethod("drainEvents", &UffdEngine::DrainEvents),
			InstanceMethod("lostEvents", &UffdEngine::LostEvents),
			InstanceMethod("settle", &UffdEngine::Settle),
			InstanceMethod("pause", &UffdEngine::Pause),
			InstanceMethod("touch", &UffdEngine::Touch),
			InstanceMethod("view", &UffdEngine::View),
			InstanceMethod("info", &UffdEngine::Info),
			InstanceMethod("httpStats", &UffdEngine::HttpStats),
			InstanceMethod("setDefer", &UffdEngine::SetDefer),
			InstanceMethod("takeDeferred", &UffdEngine::TakeDeferred),
			InstanceMethod("deferReply", &UffdEngine::DeferReply),
			InstanceMethod("close", &UffdEngine::Close),
		});
	}

	// new UffdEngine({ decide, sources, threads?, userModeOnly?, forceSigbusFallback?, onEvents?, onDefer? })
	UffdEngine(const Napi::CallbackInfo &info) : Napi::ObjectWrap<UffdEngine>(info)
	{
		Napi::Env env = info.Env();
		if (info.Length() < 1 || !info[0].IsObject()) {
			Napi::TypeError::New(env, "new UffdEngine(options)").ThrowAsJavaScriptException();
			return;
		}
		Napi::Object o = info[0].As<Napi::Object>();
		if (!o.Get("decide").IsString() || !o.Get("sources").IsArray()) {
			Napi::TypeError::New(env, "options.decide (string) and options.sources (string[]) are required")
				.ThrowAsJavaScriptException();
			return;
		}
		std::string decide = o.Get("decide").As<Napi::String>();
		std::vector<std::string> paths;
		if (!faultc_binding::SourcePaths(env, o, &paths))
			return;
		struct fc_engine_opts opts = {};
		opts.decide_path = decide.c_str();
		opts.nr_sources = (unsigned)paths.size();
		for (size_t i = 0; i < paths.size(); i++)
			opts.source_paths[i] = paths[i].c_str();
		if (o.Get("threads").IsNumber())
			opts.nr_threads = o.Get("threads").As<Napi::Number>().Uint32Value();
		if (o.Get("httpDeadlineMs").IsNumber())
			opts.http_deadline_ms = o.Get("httpDeadlineMs").As<Napi::Number>().Uint32Value();
		if (o.Get("userModeOnly").ToBoolean())
			opts.flags |= FC_OPEN_USER_MODE_ONLY;
		if (o.Get("forceSigbusFallback").ToBoolean())
			opts.flags |= FC_OPEN_FORCE_SIGBUS_FALLBACK;
		if (o.Has("followFaultingThreads") && !o.Get("followFaultingThreads").ToBoolean())
			opts.flags |= FC_OPEN_NO_FOLLOW;
		if (o.Has("cpuLatencyRequest") && !o.Get("cpuLatencyRequest").ToBoolean())
			opts.flags |= FC_OPEN_NO_CPU_LATENCY;
		if (o.Has("zeroCopy") && !o.Get("zeroCopy").ToBoolean())
			opts.flags |= FC_OPEN_NO_ZERO_COPY;
		holder_ = std::make_shared<Holder>();
		if (o.Get("onEvents").IsFunction()) {
			if (!holder_->events.Start(env, o.Get("onEvents").As<Napi::Function>(), "faultc-uffd-events")) {
				holder_.reset();
				return;
			}
			opts.on_events = OnEvents;
			opts.ctx = &holder_->events;
		}
		if (o.Get("onDefer").IsFunction() &&
		    !holder_->defers.Start(env, o.Get("onDefer").As<Napi::Function>(), "faultc-uffd-defer")) {
			holder_->Close();
			holder_.reset();
			return;
		}
		char err[512] = "";
		int err_no = 0;
		struct fc_engine *e = fc_engine_open(&opts, err, sizeof(err), &err_no);
		if (!e) {
			holder_->Close();
			holder_.reset();
			UffdError(env, err, err_no).ThrowAsJavaScriptException();
			return;
		}
		holder_->engine = e;
	}

private:
	struct fc_engine *Engine(Napi::Env env) { return faultc_binding::LiveEngine(env, holder_, UffdError); }

	// addRegion(policyRegion, size, at, writeTracking, zeroCopySource) -> { slot, address, buffer }
	Napi::Value AddRegion(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_engine *e = Engine(env);
		uint32_t region;
		uint64_t size, at;
		if (!e || !faultc_binding::RegionArgs(info, 5,
						      "addRegion(region: number, size: bigint, at: bigint, wp: boolean, zeroCopySource: number)",
						      &region, &size, &at))
			return env.Undefined();
		int zc = info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : -1;
		char err[512] = "";
		int slot = fc_engine_add_region(e, region, size, at, info[3].ToBoolean() ? 1 : 0, zc,
						err, sizeof(err));
		if (slot < 0) {
			UffdError(env, err, -slot).ThrowAsJavaScriptException();
			return env.Undefined();
		}
		return buffers_.Publish(env, holder_, slot, fc_region_addr(e, slot), size);
	}

	Napi::Value Stats(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_engine *e = Engine(env);
		int slot = faultc_binding::SlotArg(info);
		struct fc_region_stats st;
		if (!e || slot < 0)
			return env.Undefined();
		// Let a handler that already woke a thread finish its bookkeeping.
		fc_engine_settle(e, 20);
		if (fc_region_stats(e, slot, &st) < 0) {
			UffdError(env, "no such region", EINVAL).ThrowAsJavaScriptException();
			return env.Undefined();
		}
		Napi::Object o = Napi::Object::New(env);
		o.Set("faults", (double)st.faults);
		o.Set("zero", (double)st.zero);
		o.Set("fill", (double)st.fill);
		o.Set("copy", (double)st.copy);
		o.Set("prefetch", (double)st.prefetch);
		o.Set("sigbus", (double)st.sigbus);
		o.Set("deferred", (double)st.deferred);
		o.Set("errors", (double)st.errors);
		o.Set("writeFaults", (double)st.write_faults);
		o.Set("raced", (double)st.raced);
		return o;
	}

	Napi::Value DirtyPages(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_engine *e = Engine(env);
		int slot = faultc_binding::SlotArg(info);
		if (!e || slot < 0)
			return env.Undefined();
		fc_engine_settle(e, 20);
		return faultc_binding::DirtyPagesOf(env, e, slot, fc_region_dirty);
	}

	Napi::Value ResetDirty(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_engine *e = Engine(env);
		int slot = faultc_binding::SlotArg(info);
		if (!e || slot < 0)
			return env.Undefined();
		return faultc_binding::ResetDirtyOf(env, e, slot, fc_region_reset_dirty, UffdError);
	}

	// drainEvents() -> Buffer of packed struct faultc_event (ABI v1 layout)
	Napi::Value DrainEvents(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!holder_ || !holder_->engine)
			return Napi::Buffer<uint8_t>::New(env, 0);
		std::vector<struct faultc_event> ev(4096);
		std::vector<uint8_t> out;
		size_t n;
		while ((n = fc_engine_drain_events(holder_->engine, ev.data(), ev.size())) > 0) {
			const uint8_t *p = reinterpret_cast<const uint8_t *>(ev.data());
			out.insert(out.end(), p, p + n * sizeof(struct faultc_event));
			if (n < ev.size())
				break;
		}
		return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
	}

	Napi::Value LostEvents(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_engine *e = Engine(env);
		return e ? Napi::Number::New(env, (double)fc_engine_lost_events(e)) : env.Undefined();
	}

	Napi::Value Settle(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_engine *e = Engine(env);
		unsigned ms = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 1000;
		if (!e)
			return env.Undefined();
		return Napi::Boolean::New(env, fc_engine_settle(e, ms) == 0);
	}

	Napi::Value Pause(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_engine *e = Engine(env);
		if (e)
			fc_engine_pause(e, info.Length() > 0 && info[0].ToBoolean() ? 1 : 0);
		return env.Undefined();
	}

	// touch(slot, pages: Uint32Array, threads, write, value) -> Promise<{ ns, sum }>
	// view(slot, offset, length) -> ArrayBuffer over that part of a region
	Napi::Value View(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_engine *e = Engine(env);
		int slot = faultc_binding::SlotArg(info);
		if (!e || slot < 0)
			return env.Undefined();
		return buffers_.View(info, holder_, fc_region_addr(e, slot), fc_region_size(e, slot));
	}

	Napi::Value Touch(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_engine *e = Engine(env);
		int slot = faultc_binding::SlotArg(info);
		if (!e || slot < 0)
			return env.Undefined();
		return StartTouch(info, UffdError, holder_, static_cast<uint8_t *>(fc_region_addr(e, slot)),
				  fc_region_size(e, slot));
	}

	// setDefer(enabled, deadlineMs): whether `defer` faults wake options.onDefer
	// (the engine was opened with it) or map zeros.
	Napi::Value SetDefer(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_engine *e = Engine(env);
		bool on;
		unsigned deadline;
		if (!e)
			return env.Undefined();
		faultc_binding::DeferArgs(info, &on, &deadline);
		fc_engine_set_defer(e, on ? faultc_binding::NotifyDefer : nullptr, &holder_->defers, deadline);
		return env.Undefined();
	}

	// takeDeferred() -> [{ id, region, offset, address, tid, write }]: requests not yet taken
	Napi::Value TakeDeferred(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!holder_ || !holder_->engine)
			return Napi::Array::New(env);
		struct fc_engine *e = holder_->engine;
		return faultc_binding::TakeDeferred(env, [e](struct fc_defer_request *out, size_t max) {
			return fc_engine_defer_take(e, out, max);
		});
	}

	Napi::Value DeferReply(const Napi::CallbackInfo &info)
	{
		struct fc_engine *e = Engine(info.Env());
		if (!e)
			return info.Env().Undefined();
		return faultc_binding::DeferReply(info, [e](uint64_t id, uint32_t kind, const uint8_t *b, size_t n) {
			return fc_engine_defer_reply(e, id, kind, b, n);
		});
	}

	// httpStats(source) -> { requests, retries, bytes, failures, lastCause, lastStatus } or null
	Napi::Value HttpStats(const Napi::CallbackInfo &info)
	{
		struct fc_engine *e = Engine(info.Env());
		if (!e)
			return info.Env().Undefined();
		return faultc_binding::HttpStats(info, [e](unsigned source, struct fc_http_stats *st) {
			return fc_engine_http_stats(e, source, st);
		});
	}

	Napi::Value Info(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_engine *e = Engine(env);
		if (!e)
			return env.Undefined();
		Napi::Object o = Napi::Object::New(env);
		o.Set("threads", Napi::Number::New(env, fc_engine_nr_threads(e)));
		o.Set("poison", Napi::Boolean::New(env, fc_engine_has_poison(e) != 0));
		o.Set("features", Napi::BigInt::New(env, fc_engine_features(e)));
		return o;
	}

	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!holder_)
			return Napi::Buffer<uint8_t>::New(env, 0);
		buffers_.DetachAll();
		holder_->Close();
		std::vector<struct faultc_event> ev;
		ev.swap(holder_->last_events);
		return faultc_binding::EventBuffer(env, ev);
	}

	std::shared_ptr<Holder> holder_;
	faultc_binding::RegionBuffers<Holder> buffers_;
};

// touchAnonymous(pages, threads, write) -> Promise<{ ns, sum }>: the baseline.
Napi::Value TouchAnonymous(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber()) {
		Napi::TypeError::New(env, "touchAnonymous(pages: number, threads: number, write: boolean)")
			.ThrowAsJavaScriptException();
		return env.Undefined();
	}
	unsigned threads = info[1].As<Napi::Number>().Uint32Value();
	if (threads < 1 || threads > 64) {
		Napi::RangeError::New(env, "threads must be 1..64").ThrowAsJavaScriptException();
		return env.Undefined();
	}
	auto *w = new TouchWorker(env, UffdError, nullptr, nullptr, {}, threads, info[2].ToBoolean(), 1,
				  (size_t)info[0].As<Napi::Number>().Int64Value());
	Napi::Promise p = w->Promise();
	w->Queue();
	return p;
}

} // namespace

void InitUffd(Napi::Env env, Napi::Object exports)
{
	exports.Set("UffdEngine", UffdEngine::Define(env));
	exports.Set("touchAnonymous", Napi::Function::New(env, TouchAnonymous));
}
