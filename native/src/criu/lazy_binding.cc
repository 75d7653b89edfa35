// The lazy-pages daemon's binding: new LazyPages(opts, tasks), run() ->
// Promise (the daemon runs on a libuv worker thread and its own handler
// threads, never on the JS thread), stop(), report(), close().
#include <napi.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>
#include <unistd.h>

#include "../binding_util.h"

extern "C" {
#include "lazy_pages.h"
}

using faultc_binding::CodedError;
using faultc_binding::ErrnoName;
using faultc_binding::ToU64;

namespace {

// What the daemon reads for as long as it lives.
struct Images {
	std::vector<std::string> paths;
	std::vector<std::vector<lp_area>> areas;
	std::vector<std::vector<uint64_t>> first;
	std::vector<std::vector<int64_t>> plan;
	std::vector<std::vector<uint16_t>> ahead;
	std::vector<lp_task_image> tasks;
};

struct State {
	Images img;
	lp_daemon *d = nullptr;
	bool running = false;
	~State()
	{
		if (d)
			lp_close(d);
	}
};

// The shared names, and the ones only the socket side meets.
const char *LpErrnoName(int err)
{
	switch (err) {
	case EADDRINUSE: return "EADDRINUSE";
	case EPIPE: return "EPIPE";
	case EPROTO: return "EPROTO";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECANCELED: return "POLICY_SIGBUS";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	default: return ErrnoName(err);
	}
}

Napi::Error LpError(Napi::Env env, const std::string &msg, int err)
{
	return CodedError(env, "FAULTC_CRIU_", LpErrnoName(err), msg, err);
}

unsigned OptU32(const Napi::Object &o, const char *key, unsigned def)
{
	Napi::Value v = o.Get(key);
	return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : def;
}

// areas: BigUint64Array of [start, nr_pages, file_off] triples.
bool ReadTask(Napi::Env env, const Napi::Object &t, Images &img, size_t i)
{
	Napi::Value pid = t.Get("pid"), path = t.Get("pagesPath"), areas = t.Get("areas"), first = t.Get("first");
	if (!pid.IsNumber() || !path.IsString() || !areas.IsTypedArray()) {
		LpError(env, "task " + std::to_string(i) + ": pid, pagesPath and areas (BigUint64Array) are required", EINVAL)
			.ThrowAsJavaScriptException();
		return false;
	}
	auto a = areas.As<Napi::BigUint64Array>();
	if (a.ElementLength() % 3) {
		LpError(env, "task " + std::to_string(i) + ": areas holds triples", EINVAL).ThrowAsJavaScriptException();
		return false;
	}
	img.paths[i] = path.As<Napi::String>().Utf8Value();
	for (size_t k = 0; k < a.ElementLength(); k += 3)
		img.areas[i].push_back({ a[k], a[k + 1], (int64_t)a[k + 2] });
	if (first.IsTypedArray()) {
		auto f = first.As<Napi::BigUint64Array>();
		img.first[i].assign(f.Data(), f.Data() + f.ElementLength());
	}
	Napi::Value plan = t.Get("plan"), ahead = t.Get("ahead");
	if (plan.IsTypedArray() && ahead.IsTypedArray()) {
		auto p = plan.As<Napi::BigInt64Array>();
		auto h = ahead.As<Napi::Uint16Array>();
		if (p.ElementLength() != h.ElementLength()) {
			LpError(env, "task " + std::to_string(i) + ": plan and ahead differ in length", EINVAL).ThrowAsJavaScriptException();
			return false;
		}
		img.plan[i].assign(p.Data(), p.Data() + p.ElementLength());
		img.ahead[i].assign(h.Data(), h.Data() + h.ElementLength());
	}
	img.tasks[i].pid = pid.As<Napi::Number>().Int32Value();
	return true;
}

class RunWorker : public Napi::AsyncWorker {
public:
	RunWorker(Napi::Env env, std::shared_ptr<State> s)
		: Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), s_(std::move(s))
	{
	}
	Napi::Promise Promise() { return deferred_.Promise(); }
	void Execute() override { rc_ = lp_run(s_->d, err_, sizeof(err_)); }
	void OnOK() override
	{
		s_->running = false;
		if (rc_ < 0)
			deferred_.Reject(LpError(Env(), err_, -rc_).Value());
		else
			deferred_.Resolve(Env().Undefined());
	}

private:
	Napi::Promise::Deferred deferred_;
	std::shared_ptr<State> s_;
	char err_[512] = "";
	int rc_ = 0;
};

class LazyPages : public Napi::ObjectWrap<LazyPages> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "LazyPages",
				   { InstanceMethod("run", &LazyPages::Run), InstanceMethod("stop", &LazyPages::Stop),
				     InstanceMethod("stopRecording", &LazyPages::StopRecording),
				     InstanceMethod("report", &LazyPages::Report),
				     InstanceMethod("close", &LazyPages::Close) });
	}

	LazyPages(const Napi::CallbackInfo &info) : Napi::ObjectWrap<LazyPages>(info)
	{
		Napi::Env env = info.Env();
		if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsArray()) {
			LpError(env, "LazyPages(opts, tasks)", EINVAL).ThrowAsJavaScriptException();
			return;
		}
		Napi::Object o = info[0].As<Napi::Object>();
		Napi::Array tasks = info[1].As<Napi::Array>();
		if (!o.Get("sockPath").IsString()) {
			LpError(env, "opts.sockPath is required", EINVAL).ThrowAsJavaScriptException();
			return;
		}
		auto s = std::make_shared<State>();
		size_t n = tasks.Length();
		s->img.paths.resize(n);
		s->img.areas.resize(n);
		s->img.first.resize(n);
		s->img.plan.resize(n);
		s->img.ahead.resize(n);
		s->img.tasks.resize(n);
		for (size_t i = 0; i < n; i++)
			if (!ReadTask(env, tasks.Get((uint32_t)i).As<Napi::Object>(), s->img, i))
				return;
		for (size_t i = 0; i < n; i++) {
			lp_task_image &t = s->img.tasks[i];
			t.pages_path = s->img.paths[i].c_str();
			t.areas = s->img.areas[i].data();
			t.nr_areas = s->img.areas[i].size();
			t.first = s->img.first[i].data();
			t.nr_first = s->img.first[i].size();
			t.plan = s->img.plan[i].empty() ? nullptr : s->img.plan[i].data();
			t.ahead = s->img.ahead[i].empty() ? nullptr : s->img.ahead[i].data();
		}
		std::string sock = o.Get("sockPath").As<Napi::String>().Utf8Value();
		lp_opts lo = {};
		lo.sock_path = sock.c_str();
		lo.nr_threads = OptU32(o, "threads", 0);
		lo.prefetch = OptU32(o, "prefetch", 15);
		lo.batch = OptU32(o, "batch", 512);
		lo.background = o.Get("background").ToBoolean() ? 1 : 0;
		lo.record = o.Get("record").ToBoolean() ? 1 : 0;
		lo.record_ms = OptU32(o, "recordMs", 0);
		lo.accept_timeout_ms = OptU32(o, "acceptTimeoutMs", 0);
		char err[512] = "";
		int errnum = 0;
		s->d = lp_open(&lo, s->img.tasks.data(), n, err, sizeof(err), &errnum);
		if (!s->d) {
			LpError(env, err, errnum).ThrowAsJavaScriptException();
			return;
		}
		s_ = s;
	}

private:
	bool Open(Napi::Env env)
	{
		if (s_ && s_->d)
			return true;
		LpError(env, "the daemon is closed", EBADF).ThrowAsJavaScriptException();
		return false;
	}

	Napi::Value Run(const Napi::CallbackInfo &info)
	{
		if (!Open(info.Env()))
			return info.Env().Undefined();
		if (s_->running) {
			LpError(info.Env(), "the daemon runs already", EBUSY).ThrowAsJavaScriptException();
			return info.Env().Undefined();
		}
		s_->running = true;
		auto *w = new RunWorker(info.Env(), s_);
		Napi::Promise p = w->Promise();
		w->Queue();
		return p;
	}

	Napi::Value Stop(const Napi::CallbackInfo &info)
	{
		if (s_ && s_->d)
			lp_stop(s_->d);
		return info.Env().Undefined();
	}

	Napi::Value StopRecording(const Napi::CallbackInfo &info)
	{
		if (s_ && s_->d)
			lp_stop_recording(s_->d);
		return info.Env().Undefined();
	}

	static Napi::Value Num(Napi::Env env, uint64_t v) { return Napi::Number::New(env, (double)v); }

	Napi::Value Report(const Napi::CallbackInfo &info)
	{
		Napi::Env env = info.Env();
		if (!Open(env))
			return env.Undefined();
		if (s_->running) {
			LpError(env, "report() while the daemon runs", EBUSY).ThrowAsJavaScriptException();
			return env.Undefined();
		}
		size_t n = lp_nr_reports(s_->d);
		Napi::Array tasks = Napi::Array::New(env, n);
		for (size_t i = 0; i < n; i++) {
			lp_task_report r;
			lp_report(s_->d, i, &r);
			Napi::Object o = Napi::Object::New(env);
			o.Set("pid", r.pid);
			o.Set("parentPid", r.parent_pid);
			o.Set("totalPages", Num(env, r.total_pages));
			o.Set("demandFaults", Num(env, r.demand_faults));
			o.Set("pagesDemand", Num(env, r.pages_demand));
			o.Set("pagesPrefetch", Num(env, r.pages_prefetch));
			o.Set("pagesBackground", Num(env, r.pages_background));
			o.Set("pagesEarly", Num(env, r.pages_early));
			o.Set("pagesZero", Num(env, r.pages_zero));
			o.Set("pagesDropped", Num(env, r.pages_dropped));
			o.Set("pagesRaced", Num(env, r.pages_raced));
			o.Set("errors", Num(env, r.errors));
			o.Set("adoptNs", Num(env, r.t_adopt_ns));
			o.Set("firstFaultNs", Num(env, r.t_first_fault_ns));
			o.Set("doneNs", Num(env, r.t_done_ns));
			o.Set("gone", Napi::Boolean::New(env, r.gone != 0));
			size_t nr = 0;
			const uint64_t *rec = lp_recorded(s_->d, i, &nr);
			auto arr = Napi::BigUint64Array::New(env, nr);
			if (nr)
				memcpy(arr.Data(), rec, nr * sizeof(uint64_t));
			o.Set("recorded", arr);
			tasks.Set((uint32_t)i, o);
		}
		std::vector<lp_error> errs(256);
		size_t ne = lp_errors(s_->d, errs.data(), errs.size());
		Napi::Array errors = Napi::Array::New(env, ne);
		for (size_t i = 0; i < ne; i++) {
			Napi::Object e = Napi::Object::New(env);
			e.Set("pid", errs[i].pid);
			e.Set("address", Napi::BigInt::New(env, (uint64_t)errs[i].addr));
			e.Set("errno", errs[i].err);
			e.Set("code", std::string("FAULTC_CRIU_") + LpErrnoName(errs[i].err));
			e.Set("message", std::string(errs[i].what));
			errors.Set((uint32_t)i, e);
		}
		Napi::Object out = Napi::Object::New(env);
		out.Set("tasks", tasks);
		out.Set("errors", errors);
		out.Set("restoredNs", Num(env, lp_restored_ns(s_->d)));
		return out;
	}

	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		if (s_ && s_->running) {
			lp_stop(s_->d);
			LpError(info.Env(), "close() while the daemon runs: stopped it; close after run() settles", EBUSY)
				.ThrowAsJavaScriptException();
			return info.Env().Undefined();
		}
		s_.reset();
		return info.Env().Undefined();
	}

	std::shared_ptr<State> s_;
};

/*
 * exitNow(status): the daemon's end once its report is out. Node's own exit
 * stops its platform threads and tears V8 down first (~8 ms at the end of
 * a restore here); the daemon's work is done and its stdout/stderr writes
 * are synchronous (files, pipes), so the process ends at once.
 */
Napi::Value ExitNow(const Napi::CallbackInfo &info)
{
	int status = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;

	fflush(NULL);
	_exit(status);
}

} // namespace

void InitLazyPages(Napi::Env env, Napi::Object exports)
{
	exports.Set("LazyPages", LazyPages::Define(env));
	exports.Set("lazyPagesExit", Napi::Function::New(env, ExitNow, "lazyPagesExit"));
}
