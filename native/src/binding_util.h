// What the engine bindings share: argument conversion, errors with codes, the
// ArrayBuffers over region memory, the region methods whose only difference is
// the engine's C functions, and the worker that touches region memory from
// native threads (tests, bench).
#pragma once
#include <napi.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "faultc_abi.h"
#include "uffd_touch.h"
}

namespace faultc_binding {

// A number or bigint that fits an unsigned 64-bit value without loss.
inline bool ToU64(const Napi::Value &v, uint64_t *out)
{
	if (v.IsBigInt()) {
		bool lossless;
		*out = v.As<Napi::BigInt>().Uint64Value(&lossless);
		return lossless;
	}
	if (v.IsNumber()) {
		double d = v.As<Napi::Number>().DoubleValue();
		if (d < 0 || d > 9007199254740991.0)
			return false;
		*out = (uint64_t)d;
		return true;
	}
	return false;
}

// The errno part of an error code (FAULTC_<ENGINE>_<NAME>); EIO for the rest.
inline const char *ErrnoName(int err)
{
	switch (err) {
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOSYS: return "ENOSYS";
	case EEXIST: return "EEXIST";
	case ENOENT: return "ENOENT";
	case ENOMEM: return "ENOMEM";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case ENOTSUP: return "ENOTSUP";
	case EBUSY: return "EBUSY";
	case ESRCH: return "ESRCH";
	default: return "EIO";
	}
}

// An Error whose `code` is prefix + name (e.g. FAULTC_UFFD_EPERM), with errno.
inline Napi::Error CodedError(Napi::Env env, const char *prefix, const char *name,
			      const std::string &msg, int err)
{
	Napi::Error e = Napi::Error::New(env, msg);
	e.Set("code", Napi::String::New(env, std::string(prefix) + name));
	e.Set("errno", Napi::Number::New(env, err));
	return e;
}

// The first n of pages (n capped at its size) as a JS array of numbers.
inline Napi::Array PageArray(Napi::Env env, const std::vector<uint64_t> &pages, size_t n)
{
	if (n > pages.size())
		n = pages.size();
	Napi::Array a = Napi::Array::New(env, n);
	for (size_t i = 0; i < n; i++)
		a.Set((uint32_t)i, Napi::Number::New(env, (double)pages[i]));
	return a;
}

// options.sources: the source files' paths, at most FAULTC_MAX_SOURCES.
// Throws a JS exception and returns false when they are not that.
inline bool SourcePaths(Napi::Env env, Napi::Object o, std::vector<std::string> *paths)
{
	Napi::Array src = o.Get("sources").As<Napi::Array>();
	for (uint32_t i = 0; i < src.Length(); i++) {
		if (!src.Get(i).IsString()) {
			Napi::TypeError::New(env, "options.sources must hold strings").ThrowAsJavaScriptException();
			return false;
		}
		paths->push_back(src.Get(i).As<Napi::String>());
	}
	if (paths->size() > FAULTC_MAX_SOURCES) {
		Napi::RangeError::New(env, "too many sources").ThrowAsJavaScriptException();
		return false;
	}
	return true;
}

using MakeError = Napi::Error (*)(Napi::Env env, const std::string &msg, int err);

// Wakes a JavaScript callback from any thread, without data: the callback
// drains its engine's queue itself. A pending wake-up never keeps the process
// alive, and one still queued when the environment is torn down is dropped
// (JavaScript can no longer run there; failing to run it is not an error).
// Node destroys the thread-safe function at teardown whoever still holds it:
// its finalizer tells the notifier, which from then on does nothing.
class Notifier {
public:
	bool Start(Napi::Env env, Napi::Function fn, const char *name)
	{
		napi_value res = Napi::String::New(env, name);
		auto *fin = new std::shared_ptr<State>(state_);

		if (napi_create_threadsafe_function(env, fn, nullptr, res, 0, 1, fin, Finalize, nullptr,
						    CallJs, &state_->tsfn) != napi_ok) {
			delete fin;
			state_->tsfn = nullptr;
			Napi::Error::New(env, "cannot create the event notifier").ThrowAsJavaScriptException();
			return false;
		}
		napi_unref_threadsafe_function(env, state_->tsfn);
		return true;
	}

	// From any thread: whether the callback will run.
	bool Notify()
	{
		std::lock_guard<std::mutex> lock(state_->mu);
		return state_->tsfn &&
		       napi_call_threadsafe_function(state_->tsfn, nullptr, napi_tsfn_nonblocking) == napi_ok;
	}

	// On the JavaScript thread, once no thread needs to Notify() any more.
	void Release()
	{
		std::lock_guard<std::mutex> lock(state_->mu);
		if (state_->tsfn)
			napi_release_threadsafe_function(state_->tsfn, napi_tsfn_release);
		state_->tsfn = nullptr;
	}

private:
	struct State {
		std::mutex mu;
		napi_threadsafe_function tsfn = nullptr;
	};

	static void CallJs(napi_env env, napi_value fn, void *, void *)
	{
		napi_value undefined;

		if (!env || !fn || napi_get_undefined(env, &undefined) != napi_ok)
			return;
		// Fails only when JavaScript cannot run any more (environment teardown).
		napi_call_function(env, undefined, fn, 0, nullptr, nullptr);
	}

	static void Finalize(napi_env, void *data, void *)
	{
		auto *state = static_cast<std::shared_ptr<State> *>(data);
		{
			std::lock_guard<std::mutex> lock((*state)->mu);
			(*state)->tsfn = nullptr;
		}
		delete state;
	}

	std::shared_ptr<State> state_ = std::make_shared<State>();
};

// The holder's engine, or null with an exception when the policy is closed.
template <class Holder>
auto LiveEngine(Napi::Env env, const std::shared_ptr<Holder> &h, MakeError make_error) -> decltype(h->engine)
{
	if (!h || !h->engine) {
		make_error(env, "the policy is closed", EINVAL).ThrowAsJavaScriptException();
		return nullptr;
	}
	return h->engine;
}

// The region slot in info[0], or -1 with an exception.
inline int SlotArg(const Napi::CallbackInfo &info)
{
	if (info.Length() < 1 || !info[0].IsNumber()) {
		Napi::TypeError::New(info.Env(), "a region slot (number) is required").ThrowAsJavaScriptException();
		return -1;
	}
	return info[0].As<Napi::Number>().Int32Value();
}

// addRegion(region: number, size: bigint, at: bigint, ...): the arguments every
// engine takes first. False with an exception (usage names the whole call).
inline bool RegionArgs(const Napi::CallbackInfo &info, size_t min_args, const char *usage,
		       uint32_t *region, uint64_t *size, uint64_t *at)
{
	Napi::Env env = info.Env();
	if (info.Length() < min_args || !info[0].IsNumber() || !ToU64(info[1], size) || !ToU64(info[2], at)) {
		Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
		return false;
	}
	if (*size > (uint64_t)SIZE_MAX / 2) {
		Napi::RangeError::New(env, "region too large").ThrowAsJavaScriptException();
		return false;
	}
	*region = info[0].As<Napi::Number>().Uint32Value();
	return true;
}

// Events as a Buffer of packed struct faultc_event (ABI v1 layout).
inline Napi::Buffer<uint8_t> EventBuffer(Napi::Env env, const std::vector<struct faultc_event> &ev)
{
	return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t *>(ev.data()),
					   ev.size() * sizeof(struct faultc_event));
}

// The most an ArrayBuffer over native memory may span: Node-API makes it a
// Node Buffer, at most buffer.constants.MAX_LENGTH (4 GiB in Node 20), and
// frees the finalizer's data itself when asked for more. A larger region has
// no whole-region buffer, only windows of at most this (view()).
constexpr uint64_t kMaxBufferBytes = 1ull << 32;

// The ArrayBuffers handed out over region memory: each keeps the holder (and
// so the mapping) alive until collected, and close() detaches them all before
// the memory goes.
template <class Holder> class RegionBuffers {
public:
	// { slot, address, buffer } for the region of `size` bytes at `addr`;
	// buffer is null when the region is larger than kMaxBufferBytes.
	Napi::Object Publish(Napi::Env env, const std::shared_ptr<Holder> &holder, int slot,
			     void *addr, uint64_t size)
	{
		Napi::Object res = Napi::Object::New(env);
		res.Set("slot", Napi::Number::New(env, slot));
		res.Set("address", Napi::BigInt::New(env, (uint64_t)(uintptr_t)addr));
		res.Set("buffer", size <= kMaxBufferBytes ? Napi::Value(Window(env, holder, addr, size)) : env.Null());
		return res;
	}

	// view(slot, offset, length): an ArrayBuffer over [offset, offset + length)
	// of the region of `size` bytes at `base`, or an exception.
	Napi::Value View(const Napi::CallbackInfo &info, const std::shared_ptr<Holder> &holder,
			 void *base, uint64_t size)
	{
		Napi::Env env = info.Env();
		uint64_t off, len;

		if (info.Length() < 3 || !ToU64(info[1], &off) || !ToU64(info[2], &len)) {
			Napi::TypeError::New(env, "view(slot, offset: number | bigint, length: number | bigint)")
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		if (!len || off > size || len > size - off || len > kMaxBufferBytes) {
			Napi::RangeError::New(env, "a view is 1 byte to 4 GiB inside the region")
				.ThrowAsJavaScriptException();
			return env.Undefined();
		}
		return Window(env, holder, static_cast<uint8_t *>(base) + off, len);
	}

	void DetachAll()
	{
		for (auto &ref : buffers_) {
			Napi::ArrayBuffer b = ref.Value();
			if (!b.IsDetached())
				b.Detach();
		}
		buffers_.clear();
	}

private:
	Napi::ArrayBuffer Window(Napi::Env env, const std::shared_ptr<Holder> &holder, void *addr, uint64_t len)
	{
		auto *hint = new std::shared_ptr<Holder>(holder);
		Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, addr, (size_t)len,
			[](Napi::Env, void *, std::shared_ptr<Holder> *h) { delete h; }, hint);
		buffers_.push_back(Napi::Persistent(buf));
		return buf;
	}

	std::vector<Napi::Reference<Napi::ArrayBuffer>> buffers_;
};

// dirtyPages(slot) and resetDirty(slot) over an engine's region functions.
template <class Engine>
Napi::Value DirtyPagesOf(Napi::Env env, Engine *e, int slot,
			 size_t (*region_dirty)(Engine *, int, uint64_t *, size_t))
{
	// Sized by a count first: a region may hold 2^28 pages, few of them dirty.
	std::vector<uint64_t> pages;
	size_t n = region_dirty(e, slot, nullptr, 0);

	do {
		pages.resize(n + 64);
		n = region_dirty(e, slot, pages.data(), pages.size());
	} while (n > pages.size());
	return PageArray(env, pages, n);
}

template <class Engine>
Napi::Value ResetDirtyOf(Napi::Env env, Engine *e, int slot, int (*reset_dirty)(Engine *, int),
			 MakeError make_error)
{
	int rc = reset_dirty(e, slot);
	if (rc < 0)
		make_error(env, std::string("resetDirty: ") + strerror(-rc), -rc).ThrowAsJavaScriptException();
	return env.Undefined();
}

// Touches `pages` of the memory at `base` from `threads` native threads, or,
// when base is null, `anon_pages` of fresh anonymous memory (the baseline).
// `done` runs on the worker thread once the touching has ended, so an engine
// can count the workers still using its memory. Resolves { ns, sum }.
class TouchWorker : public Napi::AsyncWorker {
public:
	TouchWorker(Napi::Env env, MakeError make_error, std::function<void()> done, uint8_t *base,
		    std::vector<uint32_t> pages, unsigned threads, bool write, uint8_t value,
		    size_t anon_pages = 0, bool latencies = false)
		: Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)),
		  make_error_(make_error), done_(std::move(done)), base_(base),
		  pages_(std::move(pages)), threads_(threads), write_(write), value_(value),
		  anon_pages_(anon_pages)
	{
		if (latencies)
			lat_.resize(pages_.size());
	}

	Napi::Promise Promise() { return deferred_.Promise(); }

	void Execute() override
	{
		if (base_)
			rc_ = fc_touch_pages(base_, pages_.data(), pages_.size(), threads_, write_,
					     value_, lat_.empty() ? nullptr : lat_.data(), &res_);
		else
			rc_ = fc_touch_anonymous(anon_pages_, threads_, write_, &res_);
		if (done_)
			done_();
	}

	void OnOK() override
	{
		Napi::Env env = Env();
		if (rc_ < 0) {
			deferred_.Reject(make_error_(env, std::string("touch failed: ") + strerror(-rc_), -rc_).Value());
			return;
		}
		Napi::Object o = Napi::Object::New(env);
		o.Set("ns", Napi::Number::New(env, (double)res_.ns));
		o.Set("sum", Napi::Number::New(env, (double)res_.sum));
		if (!lat_.empty()) {
			Napi::Float64Array lat = Napi::Float64Array::New(env, lat_.size());
			for (size_t i = 0; i < lat_.size(); i++)
				lat[i] = (double)lat_[i];
			o.Set("latencies", lat);
		}
		deferred_.Resolve(o);
	}

	void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

private:
	Napi::Promise::Deferred deferred_;
	MakeError make_error_;
	std::function<void()> done_;
	uint8_t *base_;
	std::vector<uint32_t> pages_;
	unsigned threads_;
	bool write_;
	uint8_t value_;
	size_t anon_pages_;
	std::vector<uint64_t> lat_;	// per-page ns, when asked
	struct fc_touch_result res_ = {};
	int rc_ = 0;
};

// The `done` of a TouchWorker over an engine's memory: counts the worker out
// under the engine's lock, so close() can wait for the last one.
template <class Holder> std::function<void()> TouchDone(std::shared_ptr<Holder> h)
{
	return [h]() {
		std::lock_guard<std::mutex> lock(h->mu);
		h->touchers--;
		h->cv.notify_all();
	};
}

// touch(slot, pages: Uint32Array, threads, write, value, latencies?) over one region of
// `region_bytes` at `base`: checks the arguments (only pages of this region:
// the toucher never strays outside it), counts the worker in, queues it.
template <class Holder>
Napi::Value StartTouch(const Napi::CallbackInfo &info, MakeError make_error,
		       std::shared_ptr<Holder> holder, uint8_t *base, uint64_t region_bytes)
{
	Napi::Env env = info.Env();
	if (info.Length() < 5 || !info[1].IsTypedArray() ||
	    info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array || !info[2].IsNumber()) {
		Napi::TypeError::New(env, "touch(slot, pages: Uint32Array, threads: number, write: boolean, value: number)")
			.ThrowAsJavaScriptException();
		return env.Undefined();
	}
	Napi::Uint32Array arr = info[1].As<Napi::Uint32Array>();
	std::vector<uint32_t> pages(arr.Data(), arr.Data() + arr.ElementLength());
	for (uint32_t p : pages) {
		if (p >= region_bytes / FAULTC_PAGE_SIZE) {
			Napi::RangeError::New(env, "page index outside the region").ThrowAsJavaScriptException();
			return env.Undefined();
		}
	}
	unsigned threads = info[2].As<Napi::Number>().Uint32Value();
	if (threads < 1 || threads > 64) {
		Napi::RangeError::New(env, "threads must be 1..64").ThrowAsJavaScriptException();
		return env.Undefined();
	}
	{
		std::lock_guard<std::mutex> lock(holder->mu);
		holder->touchers++;
	}
	auto *w = new TouchWorker(env, make_error, TouchDone(holder), base, std::move(pages), threads,
				  info[3].ToBoolean(), (uint8_t)info[4].As<Napi::Number>().Uint32Value(), 0,
				  info.Length() > 5 && info[5].ToBoolean());
	Napi::Promise p = w->Promise();
	w->Queue();
	return p;
}

} // namespace faultc_binding
