// JavaScript side of kernel_engine.c.
//
// Region memory is an external ArrayBuffer over the mapping, as in the uffd
// engine; a JavaScript access to a missing page runs the policy's program in
// the kernel on the JS thread itself (no handler thread exists). One poll
// thread reads the program's ring buffer and queues events; the JS callback
// drains the queue in batches.
//
// Lifetime: close() stops the poll thread after a last drain, waits for touch
// workers, detaches the ArrayBuffers, then unmaps (which detaches the program).
#include <napi.h>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include "bindings.h"
#include "binding_util.h"
#include "defer_binding.h"

extern "C" {
#include "kernel_engine.h"
#include "uffd_touch.h"
}

namespace {

using faultc_binding::CodedError;
using faultc_binding::StartTouch;
using faultc_binding::ToU64;
using faultc_binding::TouchDone;
using faultc_binding::TouchWorker;

Napi::Error KernelError(Napi::Env env, const std::string &msg, int err)
{
	// No hook in this kernel is the kernel engine's own case of ENOTSUP.
	return CodedError(env, "FAULTC_KERNEL_", err == ENOTSUP ? "NO_HOOK" : faultc_binding::ErrnoName(err), msg, err);
}

// Shared by the wrapper, the poll thread and every ArrayBuffer over a region.
struct Holder {
	struct fk_engine *engine = nullptr;
	std::mutex mu;
	std::condition_variable cv;
	int touchers = 0;
	std::vector<struct faultc_event> queue;
	std::thread poller;
	std::atomic<bool> stop{false};
	faultc_binding::Notifier events;
	faultc_binding::Notifier defers;	// wakes the `defer` handler (the watcher's)

	static void Push(void *ctx, const struct faultc_event *ev)
	{
		auto *h = static_cast<Holder *>(ctx);
		std::lock_guard<std::mutex> lock(h->mu);
		h->queue.push_back(*ev);
	}

	void Poll()
	{
		while (!stop.load()) {
			int n = fk_engine_poll(engine, 100, Push, this);
			if (n > 0)
				events.Notify();
		}
	}

	void Close()
	{
		{
			std::unique_lock<std::mutex> lock(mu);
			cv.wait(lock, [this] { return touchers == 0; });
		}
		if (poller.joinable()) {
			stop.store(true);
			poller.join();
		}
		if (engine) {
			// Events of the last faults are not lost.
			fk_engine_poll(engine, 0, Push, this);
			fk_engine_close(engine);
			engine = nullptr;
		}
		events.Release();
		defers.Release();
	}
	~Holder() { Close(); }
};

Napi::Buffer<uint8_t> TakeEvents(Napi::Env env, Holder &h)
{
	std::vector<struct faultc_event> ev;
	{
		std::lock_guard<std::mutex> lock(h.mu);
		ev.swap(h.queue);
	}
	return faultc_binding::EventBuffer(env, ev);
}

class KernelEngine : public Napi::ObjectWrap<KernelEngine> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "KernelEngine", {
			InstanceMethod("addRegion", &KernelEngine::AddRegion),
			InstanceMethod("counts", &KernelEngine::Counts),
			InstanceMethod("writes", &KernelEngine::Writes),
			InstanceMethod("attachProcess", &KernelEngine::AttachProcess),
			InstanceMethod("setChange", &KernelEngine::SetChange),
			InstanceMethod("setHas", &KernelEngine::SetHas),
			InstanceMethod("dirtyPages", &KernelEngine::DirtyPages),
			InstanceMethod("resetDirty", &KernelEngine::ResetDirty),
			InstanceMethod("drainEvents", &KernelEngine::DrainEvents),
			InstanceMethod("lostEvents", &KernelEngine::LostEvents),
			InstanceMethod("touch", &KernelEngine::Touch),
			InstanceMethod("view", &KernelEngine::View),
			InstanceMethod("httpStats", &KernelEngine::HttpStats),
			InstanceMethod("setDefer", &KernelEngine::SetDefer),
			InstanceMethod("takeDeferred", &KernelEngine::TakeDeferred),
			InstanceMethod("deferReply", &KernelEngine::DeferReply),
			InstanceMethod("close", &KernelEngine::Close),
		});
	}

	// new KernelEngine({ object, sources, regions, decide?, ringBytes?, threads?, httpDeadlineMs?, onEvents?, onDefer? })
	KernelEngine(const Napi::CallbackInfo &info) : Napi::ObjectWrap<KernelEngine>(info)
	{
		Napi::Env env = info.Env();
		if (info.Length() < 1 || !info[0].IsObject()) {
			Napi::TypeError::New(env, "new KernelEngine(options)").ThrowAsJavaScriptException();
			return;
		}
		Napi::Object o = info[0].As<Napi::Object>();
		if (!o.Get("object").IsString() || !o.Get("sources").IsArray() || !o.Get("regions").IsNumber()) {
			Napi::TypeError::New(env, "options.object (string), options.sources (string[]) and options.regions (number) are required")
				.ThrowAsJavaScriptException();
			return;
		}
		std::string object = o.Get("object").As<Napi::String>();
		std::vector<std::string> paths;
		if (!faultc_binding::SourcePaths(env, o, &paths))
			return;
		struct fk_engine_opts opts = {};
		opts.object_path = object.c_str();
		opts.nr_sources = (unsigned)paths.size();
		for (size_t i = 0; i < paths.size(); i++)
			opts.source_paths[i] = paths[i].c_str();
		opts.nr_regions = o.Get("regions").As<Napi::Number>().Uint32Value();
		std::string decide;
		if (o.Get("decide").IsString()) {
			decide = o.Get("decide").As<Napi::String>().Utf8Value();
			opts.decide_path = decide.c_str();
		}
		if (o.Get("ringBytes").IsNumber())
			opts.ringbuf_bytes = o.Get("ringBytes").As<Napi::Number>().Uint32Value();
		if (o.Get("threads").IsNumber())
			opts.nr_threads = o.Get("threads").As<Napi::Number>().Uint32Value();
		if (o.Get("httpDeadlineMs").IsNumber())
			opts.http_deadline_ms = o.Get("httpDeadlineMs").As<Napi::Number>().Uint32Value();

		holder_ = std::make_shared<Holder>();
		char err[16384] = "";
		int err_no = 0;
		holder_->engine = fk_engine_open(&opts, err, sizeof(err), &err_no);
		if (!holder_->engine) {
			holder_.reset();
			KernelError(env, err, err_no).ThrowAsJavaScriptException();
			return;
		}
		if (o.Get("onEvents").IsFunction() &&
		    !holder_->events.Start(env, o.Get("onEvents").As<Napi::Function>(), "faultc-kernel-events")) {
			holder_.reset();
			return;
		}
		if (o.Get("onDefer").IsFunction() &&
		    !holder_->defers.Start(env, o.Get("onDefer").As<Napi::Function>(), "faultc-kernel-defer")) {
			holder_.reset();
			return;
		}
		Holder *h = holder_.get();
		holder_->poller = std::thread([h] { h->Poll(); });
	}

private:
	struct fk_engine *Engine(Napi::Env env) { return faultc_binding::LiveEngine(env, holder_, KernelError); }

	// addRegion(policyRegion, size, at, defer?, writes?, mapSource?, huge?) -> { slot, address, buffer }
	// mapSource: a source index to map the region from (zero-copy), or -1;
	// huge: 2 MiB blocks (FK_REGION_HUGE)
	Napi::Value AddRegion(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		uint32_t region;
		uint64_t size, at;
		if (!e || !faultc_binding::RegionArgs(info, 3, "addRegion(region: number, size: bigint, at: bigint, defer?: boolean, writes?: boolean, mapSource?: number, huge?: boolean)",
						      &region, &size, &at))
			return env.Undefined();
		char err[512] = "";
		uint32_t flags = (info.Length() > 3 && info[3].ToBoolean() ? FK_REGION_DEFER : 0) |
				 (info.Length() > 4 && info[4].ToBoolean() ? FK_REGION_WRITES : 0);
		if (info.Length() > 5 && info[5].IsNumber() && info[5].As<Napi::Number>().Int32Value() >= 0)
			flags |= FK_REGION_MAP_SOURCE(info[5].As<Napi::Number>().Uint32Value());
		if (info.Length() > 6 && info[6].ToBoolean())
			flags |= FK_REGION_HUGE;
		int slot = fk_engine_add_region(e, region, size, at, flags, err, sizeof(err));
		if (slot < 0) {
			KernelError(env, err, -slot).ThrowAsJavaScriptException();
			return env.Undefined();
		}
		return buffers_.Publish(env, holder_, slot, fk_region_addr(e, slot), size);
	}

	// counts(policyRegion) -> struct faultc_counts as an object, field by field
	Napi::Value Counts(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		struct faultc_counts c;
		if (!e)
			return env.Undefined();
		if (info.Length() < 1 || !info[0].IsNumber() ||
		    fk_engine_counts(e, info[0].As<Napi::Number>().Uint32Value(), &c) < 0) {
			Napi::RangeError::New(env, "no such region").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		Napi::Object o = Napi::Object::New(env);
		o.Set("faults", Napi::Number::New(env, (double)c.faults));
		o.Set("zero", Napi::Number::New(env, (double)c.zero));
		o.Set("fill", Napi::Number::New(env, (double)c.fill));
		o.Set("copy", Napi::Number::New(env, (double)c.copy));
		o.Set("sigbus", Napi::Number::New(env, (double)c.sigbus));
		o.Set("defer", Napi::Number::New(env, (double)c.defer));
		o.Set("prefetch", Napi::Number::New(env, (double)c.prefetch));
		o.Set("errors", Napi::Number::New(env, (double)c.errors));
		return o;
	}

	// attachProcess(policyRegion, pid, address: bigint, size: bigint): attaches the
	// program to memory another process mapped (fk_engine_attach_process).
	Napi::Value AttachProcess(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		uint64_t addr, size;
		if (!e)
			return env.Undefined();
		if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !ToU64(info[2], &addr) ||
		    !ToU64(info[3], &size)) {
			Napi::TypeError::New(env, "attachProcess(region: number, pid: number, address: bigint, size: bigint)")
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		char err[512] = "";
		int rc = fk_engine_attach_process(e, info[0].As<Napi::Number>().Uint32Value(),
						  info[1].As<Napi::Number>().Int32Value(), addr, size, err, sizeof(err));
		if (rc < 0)
			KernelError(env, err, -rc).ThrowAsJavaScriptException();
		return env.Undefined();
	}

	// setChange(policyRegion, set, firstPage, pages, add): the program's set map (fk_engine_set_change)
	Napi::Value SetChange(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		if (!e)
			return env.Undefined();
		if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() ||
		    !info[3].IsNumber()) {
			Napi::TypeError::New(env, "setChange(region: number, set: number, firstPage: number, pages: number, add: boolean)")
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		char err[512] = "";
		int rc = fk_engine_set_change(e, info[0].As<Napi::Number>().Uint32Value(),
					      info[1].As<Napi::Number>().Int32Value(),
					      (uint64_t)info[2].As<Napi::Number>().Int64Value(),
					      (uint64_t)info[3].As<Napi::Number>().Int64Value(), info[4].ToBoolean(),
					      err, sizeof(err));
		if (rc < 0)
			KernelError(env, err, -rc).ThrowAsJavaScriptException();
		return env.Undefined();
	}

	// setHas(policyRegion, set, page) -> boolean
	Napi::Value SetHas(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		if (!e)
			return env.Undefined();
		if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
			Napi::TypeError::New(env, "setHas(region: number, set: number, page: number)").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		int rc = fk_engine_set_test(e, info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Int32Value(),
					    (uint64_t)info[2].As<Napi::Number>().Int64Value());
		if (rc < 0) {
			KernelError(env, "cannot read the set's map", -rc).ThrowAsJavaScriptException();
			return env.Undefined();
		}
		return Napi::Boolean::New(env, rc == 1);
	}

	// writes(slot) -> { writeFaults, sigbus, errors } of the region's `on write` rules
	Napi::Value Writes(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		struct fk_write_stats st;
		int slot = faultc_binding::SlotArg(info);
		if (!e || slot < 0)
			return env.Undefined();
		fk_region_writes(e, slot, &st);
		Napi::Object o = Napi::Object::New(env);
		o.Set("writeFaults", (double)st.write_faults);
		o.Set("sigbus", (double)st.sigbus);
		o.Set("errors", (double)st.errors);
		o.Set("copy", (double)st.copy);
		o.Set("prefetch", (double)st.prefetch);
		return o;
	}

	// setDefer(enabled, deadlineMs), takeDeferred(), deferReply(id, kind, bytes?):
	// as the uffd engine's, for the faults the program defers
	Napi::Value SetDefer(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		bool on;
		unsigned deadline;
		if (!e)
			return env.Undefined();
		faultc_binding::DeferArgs(info, &on, &deadline);
		fk_engine_set_defer(e, on ? faultc_binding::NotifyDefer : nullptr, &holder_->defers, deadline);
		return env.Undefined();
	}

	Napi::Value TakeDeferred(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!holder_ || !holder_->engine)
			return Napi::Array::New(env);
		struct fk_engine *e = holder_->engine;
		return faultc_binding::TakeDeferred(env, [e](struct fc_defer_request *out, size_t max) {
			return fk_engine_defer_take(e, out, max);
		});
	}

	Napi::Value DeferReply(const Napi::CallbackInfo &info)
	{
		struct fk_engine *e = Engine(info.Env());
		if (!e)
			return info.Env().Undefined();
		return faultc_binding::DeferReply(info, [e](uint64_t id, uint32_t kind, const uint8_t *b, size_t n) {
			return fk_engine_defer_reply(e, id, kind, b, n);
		});
	}

	// httpStats(source) -> the watcher's counters of an http source, or null
	Napi::Value HttpStats(const Napi::CallbackInfo &info)
	{
		struct fk_engine *e = Engine(info.Env());
		if (!e)
			return info.Env().Undefined();
		return faultc_binding::HttpStats(info, [e](unsigned source, struct fc_http_stats *st) {
			return fk_engine_http_stats(e, source, st);
		});
	}

	// dirtyPages(slot) -> page indexes written since the last reset, ascending
	Napi::Value DirtyPages(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		int slot = faultc_binding::SlotArg(info);
		if (!e || slot < 0)
			return env.Undefined();
		return faultc_binding::DirtyPagesOf(env, e, slot, fk_region_dirty);
	}

	Napi::Value ResetDirty(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		int slot = faultc_binding::SlotArg(info);
		if (!e || slot < 0)
			return env.Undefined();
		return faultc_binding::ResetDirtyOf(env, e, slot, fk_region_reset_dirty, KernelError);
	}

	// drainEvents() -> Buffer of packed struct faultc_event
	Napi::Value DrainEvents(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!holder_)
			return Napi::Buffer<uint8_t>::New(env, 0);
		return TakeEvents(env, *holder_);
	}

	Napi::Value LostEvents(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		return e ? Napi::Number::New(env, (double)fk_engine_lost(e)) : env.Undefined();
	}

	// touch(slot, pages: Uint32Array, threads, write, value) -> Promise<{ ns, sum }>
	// view(slot, offset, length) -> ArrayBuffer over that part of a region
	Napi::Value View(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		int slot = faultc_binding::SlotArg(info);
		if (!e || slot < 0)
			return env.Undefined();
		return buffers_.View(info, holder_, fk_region_addr(e, slot), fk_region_size(e, slot));
	}

	Napi::Value Touch(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		struct fk_engine *e = Engine(env);
		int slot = faultc_binding::SlotArg(info);
		if (!e || slot < 0)
			return env.Undefined();
		return StartTouch(info, KernelError, holder_, static_cast<uint8_t *>(fk_region_addr(e, slot)),
				  fk_region_size(e, slot));
	}

	// close() -> Buffer of the events not drained yet
	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!holder_)
			return Napi::Buffer<uint8_t>::New(env, 0);
		buffers_.DetachAll();
		holder_->Close();
		return TakeEvents(env, *holder_);
	}

	std::shared_ptr<Holder> holder_;
	faultc_binding::RegionBuffers<Holder> buffers_;
};

// hookVersion() -> the hook's interface version, or a negative errno
Napi::Value HookVersion(const Napi::CallbackInfo &info)
{
	return Napi::Number::New(info.Env(), fk_hook_version());
}

} // namespace

void InitKernel(Napi::Env env, Napi::Object exports)
{
	exports.Set("KernelEngine", KernelEngine::Define(env));
	exports.Set("kernelHookVersion", Napi::Function::New(env, HookVersion));
}
