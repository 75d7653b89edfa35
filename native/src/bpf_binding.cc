// JavaScript side of bpf_loader.c: verifying objects and trace sessions.
// Ring-buffer events are read on a native thread and handed to JavaScript in
// batches (one Buffer of packed struct faultc_event per poll) through a
// thread-safe function, so the event loop never blocks on the kernel.
#include <napi.h>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>
#include <bpf/libbpf.h>
#include "bindings.h"
#include "binding_util.h"
#include "bpf_loader.h"

namespace {

constexpr size_t kLogSize = 1 << 20;

Napi::Error ErrnoError(Napi::Env env, const char *what, int err, const std::string &log = "")
{
	std::string msg = std::string(what) + ": " + strerror(err < 0 ? -err : err);
	Napi::Error e = Napi::Error::New(env, msg);
	e.Set("errno", Napi::Number::New(env, err < 0 ? -err : err));
	e.Set("log", Napi::String::New(env, log));
	return e;
}

// verify(path, progType?) -> { ok, errno, log, programs: [{ name, section, verifiedInsns }] }
Napi::Value Verify(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 1 || !info[0].IsString()) {
		Napi::TypeError::New(env, "verify(path: string, progType?: number)").ThrowAsJavaScriptException();
		return env.Undefined();
	}
	std::string path = info[0].As<Napi::String>();
	int prog_type = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
	std::vector<char> log(kLogSize, '\0');
	struct bpf_object *obj = nullptr;
	int err = faultc_bpf_load(path.c_str(), prog_type, log.data(), log.size(), &obj);

	Napi::Object res = Napi::Object::New(env);
	res.Set("ok", Napi::Boolean::New(env, err == 0));
	res.Set("errno", Napi::Number::New(env, err < 0 ? -err : err));
	res.Set("log", Napi::String::New(env, log.data()));
	Napi::Array progs = Napi::Array::New(env);
	if (obj) {
		struct bpf_program *prog;
		uint32_t i = 0;
		bpf_object__for_each_program(prog, obj) {
			Napi::Object p = Napi::Object::New(env);
			p.Set("name", bpf_program__name(prog));
			p.Set("section", bpf_program__section_name(prog));
			p.Set("verifiedInsns", Napi::Number::New(env, (double)faultc_bpf_verified_insns(bpf_program__fd(prog))));
			progs.Set(i++, p);
		}
		bpf_object__close(obj);
	}
	res.Set("programs", progs);
	return res;
}

struct Batch {
	std::vector<uint8_t> bytes;
};

void AppendEvent(void *ctx, const void *data, size_t size)
{
	auto *batch = static_cast<Batch *>(ctx);
	const uint8_t *p = static_cast<const uint8_t *>(data);
	batch->bytes.insert(batch->bytes.end(), p, p + size);
}

bool GetU64(Napi::Object o, const char *key, uint64_t *out)
{
	return faultc_binding::ToU64(o.Get(key), out);
}

// { mode, flags, wakeupBytes, sourceSizes?: bigint[], heapRegion?, stackRegion? }; false after throwing.
bool ParseConfig(Napi::Env env, Napi::Object o, struct faultc_trace_config *cfg)
{
	uint64_t mode = 0, flags = 0, wake = 0, heap = 0, stack = 0;

	memset(cfg, 0, sizeof(*cfg));
	if (!GetU64(o, "mode", &mode) || !GetU64(o, "flags", &flags) || !GetU64(o, "wakeupBytes", &wake)) {
		Napi::TypeError::New(env, "config needs mode, flags, wakeupBytes").ThrowAsJavaScriptException();
		return false;
	}
	if (o.Has("heapRegion") && !GetU64(o, "heapRegion", &heap))
		heap = UINT64_MAX;
	if (o.Has("stackRegion") && !GetU64(o, "stackRegion", &stack))
		stack = UINT64_MAX;
	if (heap > FAULTC_MAX_REGIONS || stack > FAULTC_MAX_REGIONS) {
		Napi::RangeError::New(env, "heapRegion/stackRegion: region + 1, at most 1024").ThrowAsJavaScriptException();
		return false;
	}
	cfg->heap_region = (uint32_t)heap;
	cfg->stack_region = (uint32_t)stack;
	cfg->mode = (uint32_t)mode;
	cfg->flags = (uint32_t)flags;
	cfg->wakeup_bytes = wake;
	Napi::Value sizes = o.Get("sourceSizes");
	if (!sizes.IsArray())
		return true;
	Napi::Array a = sizes.As<Napi::Array>();
	for (uint32_t i = 0; i < a.Length() && i < FAULTC_TRACE_MAX_SOURCES; i++) {
		uint64_t size;

		if (!faultc_binding::ToU64(a.Get(i), &size)) {
			Napi::TypeError::New(env, "sourceSizes must be integers").ThrowAsJavaScriptException();
			return false;
		}
		cfg->source_size[i] = size;
	}
	return true;
}

class TraceSession : public Napi::ObjectWrap<TraceSession> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "TraceSession", {
			InstanceMethod("attach", &TraceSession::Attach),
			InstanceMethod("detach", &TraceSession::Detach),
			InstanceMethod("addTarget", &TraceSession::AddTarget),
			InstanceMethod("removeTarget", &TraceSession::RemoveTarget),
			InstanceMethod("setRanges", &TraceSession::SetRanges),
			InstanceMethod("setFiles", &TraceSession::SetFiles),
			InstanceMethod("start", &TraceSession::Start),
			InstanceMethod("stop", &TraceSession::Stop),
			InstanceMethod("counts", &TraceSession::Counts),
			InstanceMethod("lost", &TraceSession::Lost),
			InstanceMethod("close", &TraceSession::Close),
		});
	}

	// new TraceSession(path, ringBytes, config): config is the program's load-time configuration.
	TraceSession(const Napi::CallbackInfo &info) : Napi::ObjectWrap<TraceSession>(info)
	{
		Napi::Env env = info.Env();
		if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsObject()) {
			Napi::TypeError::New(env, "new TraceSession(path: string, ringBytes: number, config: object)").ThrowAsJavaScriptException();
			return;
		}
		std::string path = info[0].As<Napi::String>();
		uint32_t ring = info[1].As<Napi::Number>().Uint32Value();
		struct faultc_trace_config cfg;
		if (!ParseConfig(env, info[2].As<Napi::Object>(), &cfg))
			return;
		std::vector<char> log(kLogSize, '\0');
		int err = faultc_trace_open(path.c_str(), ring, &cfg, log.data(), log.size(), &trace_);
		if (err) {
			trace_ = nullptr;
			ErrnoError(env, "loading the trace program", err, log.data()).ThrowAsJavaScriptException();
		}
	}

	~TraceSession() override { Shutdown(); }

private:
	struct faultc_trace *trace_ = nullptr;
	std::thread poller_;
	std::atomic<bool> running_{false};
	Napi::ThreadSafeFunction tsfn_;
	// Settled by the thread-safe function's finalizer, which owns the deferred.
	Napi::Reference<Napi::Promise> stopped_;

	bool Live(Napi::Env env)
	{
		if (!trace_) {
			Napi::Error::New(env, "trace session is closed").ThrowAsJavaScriptException();
			return false;
		}
		return true;
	}

	void Shutdown()
	{
		running_ = false;
		if (poller_.joinable())
			poller_.join();
		if (trace_) {
			faultc_trace_close(trace_);
			trace_ = nullptr;
		}
	}

	Napi::Value Attach(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Live(env))
			return env.Undefined();
		int err = faultc_trace_attach(trace_);
		if (err)
			ErrnoError(env, "attaching the tracepoints", err).ThrowAsJavaScriptException();
		return env.Undefined();
	}

	Napi::Value Detach(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (Live(env))
			faultc_trace_detach(trace_);
		return env.Undefined();
	}

	Napi::Value Target(const Napi::CallbackInfo &info, bool add)
	{
		Napi::Env env = info.Env();
		if (!Live(env))
			return env.Undefined();
		if (info.Length() < 1 || !info[0].IsNumber()) {
			Napi::TypeError::New(env, "expected a process id").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		uint32_t tgid = info[0].As<Napi::Number>().Uint32Value();
		// addTarget(pid, state): 1 traced now (default), 2 from its next exec.
		uint8_t state = info.Length() > 1 && info[1].IsNumber() ? (uint8_t)info[1].As<Napi::Number>().Uint32Value() : 1;
		int err = add ? faultc_trace_add_target(trace_, tgid, state) : faultc_trace_remove_target(trace_, tgid);
		if (err)
			ErrnoError(env, "updating faultc_targets", err).ThrowAsJavaScriptException();
		return env.Undefined();
	}

	Napi::Value AddTarget(const Napi::CallbackInfo &info) { return Target(info, true); }
	Napi::Value RemoveTarget(const Napi::CallbackInfo &info) { return Target(info, false); }

	// setRanges([{ start: bigint, end: bigint, base: bigint, region: number }])
	Napi::Value SetRanges(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Live(env))
			return env.Undefined();
		if (info.Length() < 1 || !info[0].IsArray()) {
			Napi::TypeError::New(env, "setRanges(ranges: array)").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		Napi::Array arr = info[0].As<Napi::Array>();
		if (arr.Length() > FAULTC_MAX_RANGES) {
			Napi::RangeError::New(env, "too many ranges").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		std::vector<struct faultc_range> ranges(arr.Length());
		for (uint32_t i = 0; i < arr.Length(); i++) {
			Napi::Value v = arr.Get(i);
			if (!v.IsObject()) {
				Napi::TypeError::New(env, "range must be an object").ThrowAsJavaScriptException();
				return env.Undefined();
			}
			Napi::Object o = v.As<Napi::Object>();
			uint64_t start, end, base, region;
			if (!GetU64(o, "start", &start) || !GetU64(o, "end", &end) || !GetU64(o, "base", &base) ||
			    !GetU64(o, "region", &region) || start >= end || region >= FAULTC_MAX_REGIONS) {
				Napi::RangeError::New(env, "bad range (start < end, region < 1024)").ThrowAsJavaScriptException();
				return env.Undefined();
			}
			ranges[i] = { start, end, base, (uint32_t)region, 0 };
		}
		int err = faultc_trace_set_ranges(trace_, ranges.data(), (uint32_t)ranges.size());
		if (err)
			ErrnoError(env, "updating faultc_ranges", err).ThrowAsJavaScriptException();
		return env.Undefined();
	}

	// setFiles([{ dev: bigint, ino: bigint, region: number }]): dev in the kernel's encoding
	Napi::Value SetFiles(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Live(env))
			return env.Undefined();
		if (info.Length() < 1 || !info[0].IsArray()) {
			Napi::TypeError::New(env, "setFiles(files: array)").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		Napi::Array arr = info[0].As<Napi::Array>();
		if (arr.Length() > FAULTC_MAX_FILES) {
			Napi::RangeError::New(env, "too many file filters").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		std::vector<struct faultc_file> files(arr.Length());
		for (uint32_t i = 0; i < arr.Length(); i++) {
			Napi::Value v = arr.Get(i);
			uint64_t dev, ino, region;
			if (!v.IsObject() || !GetU64(v.As<Napi::Object>(), "dev", &dev) || !GetU64(v.As<Napi::Object>(), "ino", &ino) ||
			    !GetU64(v.As<Napi::Object>(), "region", &region) || region >= FAULTC_MAX_REGIONS) {
				Napi::RangeError::New(env, "bad file filter (dev, ino, region < 1024)").ThrowAsJavaScriptException();
				return env.Undefined();
			}
			files[i] = { dev, ino, (uint32_t)region, 0 };
		}
		int err = faultc_trace_set_files(trace_, files.data(), (uint32_t)files.size());
		if (err)
			ErrnoError(env, "updating faultc_files", err).ThrowAsJavaScriptException();
		return env.Undefined();
	}

	// start(onBatch: (events: Buffer) => void, pollMs: number)
	Napi::Value Start(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Live(env))
			return env.Undefined();
		if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsNumber()) {
			Napi::TypeError::New(env, "start(onBatch: function, pollMs: number)").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		if (running_ || poller_.joinable()) {
			Napi::Error::New(env, "trace session already started").ThrowAsJavaScriptException();
			return env.Undefined();
		}
		int poll_ms = info[1].As<Napi::Number>().Int32Value();
		if (poll_ms < 1)
			poll_ms = 1;
		auto *done = new Napi::Promise::Deferred(env);
		stopped_ = Napi::Persistent(done->Promise());
		tsfn_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "faultc-trace", 0, 1, done,
			[](Napi::Env fenv, Napi::Promise::Deferred *d) {
				// Every queued batch has been delivered: stop() resolves.
				d->Resolve(fenv.Undefined());
				delete d;
			});
		running_ = true;
		struct faultc_trace *t = trace_;
		Napi::ThreadSafeFunction fn = tsfn_;
		poller_ = std::thread([this, t, fn, poll_ms]() mutable {
			bool more = true;
			auto last_prune = std::chrono::steady_clock::now();
			while (more) {
				more = running_.load();
				auto now = std::chrono::steady_clock::now();
				if (now - last_prune > std::chrono::seconds(1)) {
					faultc_trace_prune_targets(t);
					last_prune = now;
				}
				auto *batch = new Batch();
				// After the stop request, drain whatever is left without waiting.
				int n = faultc_trace_poll(t, more ? poll_ms : 0, AppendEvent, batch);
				if (n > 0 && !batch->bytes.empty()) {
					napi_status st = fn.BlockingCall(batch, [](Napi::Env cenv, Napi::Function cb, Batch *b) {
						Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::Copy(cenv, b->bytes.data(), b->bytes.size());
						delete b;
						cb.Call({ buf });
					});
					if (st != napi_ok)
						delete batch;
				} else {
					delete batch;
				}
				if (n < 0)
					break;
			}
			fn.Release();
		});
		return env.Undefined();
	}

	// stop() -> Promise<void>, resolved once every batch has reached JavaScript.
	Napi::Value Stop(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!poller_.joinable()) {
			auto d = Napi::Promise::Deferred::New(env);
			d.Resolve(env.Undefined());
			return d.Promise();
		}
		running_ = false;
		// The poller may be waiting (pollMs): wake it, so a stop drains at once.
		faultc_trace_wake(trace_);
		poller_.join();
		return stopped_.Value();
	}

	Napi::Value Counts(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Live(env))
			return env.Undefined();
		uint32_t n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
		if (n > FAULTC_MAX_REGIONS)
			n = FAULTC_MAX_REGIONS;
		std::vector<__u64> counts(n ? n : 1);
		int err = faultc_trace_counts(trace_, counts.data(), n);
		if (err) {
			ErrnoError(env, "reading faultc_counts", err).ThrowAsJavaScriptException();
			return env.Undefined();
		}
		Napi::Array out = Napi::Array::New(env, n);
		for (uint32_t i = 0; i < n; i++)
			out.Set(i, Napi::BigInt::New(env, (uint64_t)counts[i]));
		return out;
	}

	Napi::Value Lost(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Live(env))
			return env.Undefined();
		__u64 lost = 0;
		int err = faultc_trace_lost(trace_, &lost);
		if (err) {
			ErrnoError(env, "reading faultc_lost", err).ThrowAsJavaScriptException();
			return env.Undefined();
		}
		return Napi::BigInt::New(env, (uint64_t)lost);
	}

	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		Shutdown();
		return info.Env().Undefined();
	}
};

} // namespace

void InitBpf(Napi::Env env, Napi::Object exports)
{
	Napi::Object bpf = Napi::Object::New(env);
	bpf.Set("verify", Napi::Function::New(env, Verify, "verify"));
	bpf.Set("TraceSession", TraceSession::Define(env));
	exports.Set("bpf", bpf);
}
