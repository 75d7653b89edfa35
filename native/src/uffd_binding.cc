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
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
#include "bindings.h"
#include "binding_util.h"
#include "defer_binding.h"
#include "lib/faultc_sets.h"

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
	struct fc_set_table sets = {};	// the decision library's run-time sets
	std::map<int, std::pair<uint32_t, struct fc_set_bits>> set_bits;	// by slot: region, bitmaps

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
			for (auto &kv : set_bits)
				fc_set_bits_withdraw(&sets, kv.second.first);
			fc_engine_close(engine);
			engine = nullptr;
			for (auto &kv : set_bits)
				fc_set_bits_unmap(&kv.second.second);
			set_bits.clear();
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
			InstanceMethod("setChange", &UffdEngine::SetChange),
			InstanceMethod("setHas", &UffdEngine::SetHas),
			InstanceMethod("close", &UffdEngine::Close),
		});
	}

	// new UffdEngine({ decide, sources, sets?, regions?, threads?, userModeOnly?, forceSigbusFallback?, onEvents?, onDefer? })
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
		if (o.Get("perCpuHandlers").ToBoolean())
			opts.flags |= FC_OPEN_PER_CPU_HANDLERS;
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
		// Run-time sets: the decision library's table, filled per region by addRegion.
		unsigned nr_sets = o.Get("sets").IsNumber() ? o.Get("sets").As<Napi::Number>().Uint32Value() : 0;
		unsigned nr_regions = o.Get("regions").IsNumber() ? o.Get("regions").As<Napi::Number>().Uint32Value() : 0;
		if (fc_set_table_bind(&holder_->sets, decide.c_str(), nr_sets, nr_regions, err, sizeof(err)) < 0) {
			holder_->Close();
			holder_.reset();
			UffdError(env, err, EINVAL).ThrowAsJavaScriptException();
		}
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
		// The region's sets exist before its first fault can test them.
		struct fc_set_bits bits;
		int rc = fc_set_bits_publish(&bits, &holder_->sets, region, size / 4096);
		if (rc < 0) {
			UffdError(env, rc == -EBUSY ? "the policy's run-time sets of this region are held by another open instance of the same compiled policy in this process: close it first"
						    : "cannot map the region's set bitmaps", -rc).ThrowAsJavaScriptException();
			return env.Undefined();
		}
		int slot = fc_engine_add_region(e, region, size, at, info[3].ToBoolean() ? 1 : 0, zc,
						err, sizeof(err));
		if (slot < 0) {
			fc_set_bits_withdraw(&holder_->sets, region);
			fc_set_bits_unmap(&bits);
			UffdError(env, err, -slot).ThrowAsJavaScriptException();
			return env.Undefined();
		}
		if (bits.nr_sets)
			holder_->set_bits[slot] = { region, bits };
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

	// The bitmaps of the region in slot, or nullptr (thrown).
	struct fc_set_bits *SetBits(Napi::Env env, const Napi::CallbackInfo &info, int nargs, const char *usage)
	{
		if (!Engine(env))
			return nullptr;
		for (int i = 0; i < nargs; i++) {
			if (!info[i].IsNumber()) {
				Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
				return nullptr;
			}
		}
		auto it = holder_->set_bits.find(info[0].As<Napi::Number>().Int32Value());
		if (it == holder_->set_bits.end()) {
			UffdError(env, "the region has no run-time sets", EINVAL).ThrowAsJavaScriptException();
			return nullptr;
		}
		return &it->second.second;
	}

	// setChange(slot, set, firstPage, pages, add): pages in or out of a set, seen by the next fault.
	Napi::Value SetChange(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_set_bits *b = SetBits(env, info, 4, "setChange(slot: number, set: number, firstPage: number, pages: number, add: boolean)");
		if (!b)
			return env.Undefined();
		int rc = fc_set_bits_change(b, info[1].As<Napi::Number>().Int32Value(),
					    (uint64_t)info[2].As<Napi::Number>().Int64Value(),
					    (uint64_t)info[3].As<Napi::Number>().Int64Value(), info[4].ToBoolean());
		if (rc < 0)
			UffdError(env, rc == -ERANGE ? "pages past the region's end" : "no such set", -rc)
				.ThrowAsJavaScriptException();
		return env.Undefined();
	}

	// setHas(slot, set, page) -> boolean
	Napi::Value SetHas(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fc_set_bits *b = SetBits(env, info, 3, "setHas(slot: number, set: number, page: number)");
		if (!b)
			return env.Undefined();
		return Napi::Boolean::New(env, fc_set_bits_test(b, info[1].As<Napi::Number>().Int32Value(),
								(uint64_t)info[2].As<Napi::Number>().Int64Value()) != 0);
	}

	// httpStats(source) -> { requests, retries, bytes, failures, readNs, transferNs, lastCause, lastStatus } or null
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
		o.Set("perCpu", Napi::Boolean::New(env, fc_engine_per_cpu(e) != 0));
		int latency = fc_engine_cpu_latency(e);
		o.Set("cpuLatency", Napi::String::New(env, latency > 0 ? "held" : latency == 0 ? "idle" : "off"));
		Napi::Array handlers = Napi::Array::New(env);
		struct fc_handler_info h;
		for (unsigned i = 0; fc_engine_handler_info(e, i, &h) == 0; i++) {
			Napi::Object ho = Napi::Object::New(env);
			ho.Set("cpu", Napi::Number::New(env, h.cpu));
			ho.Set("resolved", Napi::Number::New(env, (double)h.resolved));
			ho.Set("handed", Napi::Number::New(env, (double)h.handed));
			handlers.Set(i, ho);
		}
		o.Set("handlers", handlers);
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
