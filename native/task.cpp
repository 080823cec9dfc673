// Task::Run (napi_args.h): a job goes from the JS thread to the compute thread, and its result comes back through
// the env's thread-safe function.
//
// Lifetime: Node destroys an env's thread-safe functions when the env is torn down (a worker thread ends), whoever
// still holds them. So the compute thread only calls the function under the port's lock and while the port is
// alive; the env's cleanup hook, which runs before Node's own teardown of the function, marks it dead under the same
// lock. A job that ends after that has its result dropped (nobody is left to receive it).
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "napi_args.h"

namespace radbert::napi {

namespace {

struct Port {
  std::mutex mu;  // guards alive and every use of tsfn off the JS thread
  bool alive = true;
  napi_threadsafe_function tsfn = nullptr;
  int64_t in_flight = 0;  // JS thread only: jobs posted and not yet settled (the function is ref'd while > 0)
};

struct Job {
  Task::Exec exec;
  Task::Done done;
  napi_deferred deferred = nullptr;
  bool failed = false;
  std::string error;
};

// The env's port, created on first use (JS thread of that env); shared with the jobs in flight.
std::mutex g_ports_mu;
std::unordered_map<napi_env, std::shared_ptr<Port>> g_ports;

// Settles the promise of `job` on the JS thread: done(env)'s value, or the error of exec or done.
void settle(Napi::Env env, Job& job) {
  napi_value value = nullptr;
  if (!job.failed) {
    try {
      value = job.done(env);
    } catch (const Napi::Error& e) {
      job.failed = true;
      value = e.Value();
    } catch (const std::exception& e) {
      job.failed = true;
      job.error = describe(e);
    }
  }
  if (job.failed && value == nullptr) value = Napi::Error::New(env, job.error).Value();
  if (job.failed) napi_reject_deferred(env, job.deferred, value);
  else napi_resolve_deferred(env, job.deferred, value);
}

void call_js(napi_env env, napi_value /*js_callback*/, void* context, void* data) {
  std::unique_ptr<Job> job(static_cast<Job*>(data));
  if (env == nullptr) return;  // the function is being torn down: nobody waits for this promise any more
  auto* port = static_cast<Port*>(context);
  if (--port->in_flight == 0) napi_unref_threadsafe_function(env, port->tsfn);
  Napi::Env e(env);
  Napi::HandleScope scope(e);
  try {
    settle(e, *job);
  } catch (...) {
    // settle() catches what done() throws; nothing may escape into the event loop
  }
}

// The env's cleanup hook: no job may use the function from now on.
void drop_port(void* arg) {
  std::shared_ptr<Port> port;
  {
    std::lock_guard<std::mutex> lock(g_ports_mu);
    for (auto it = g_ports.begin(); it != g_ports.end(); ++it)
      if (it->second.get() == arg) {
        port = it->second;
        g_ports.erase(it);
        break;
      }
  }
  if (!port) return;
  std::lock_guard<std::mutex> lock(port->mu);
  port->alive = false;
  napi_release_threadsafe_function(port->tsfn, napi_tsfn_abort);
}

std::shared_ptr<Port> port_of(Napi::Env env) {
  std::lock_guard<std::mutex> lock(g_ports_mu);
  auto it = g_ports.find(env);
  if (it != g_ports.end()) return it->second;
  auto port = std::make_shared<Port>();
  napi_value name;
  if (napi_create_string_utf8(env, "radbert-native", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, nullptr, nullptr, name, /*max_queue_size=*/0, /*initial_thread_count=*/1,
                                      nullptr, nullptr, port.get(), call_js, &port->tsfn) != napi_ok)
    throw Napi::Error::New(env, "radbert-native: could not create the completion channel of the compute thread");
  napi_unref_threadsafe_function(env, port->tsfn);  // idle: does not keep the process alive
  napi_add_env_cleanup_hook(env, drop_port, port.get());
  g_ports.emplace(env, port);
  return port;
}

}  // namespace

Napi::Promise Task::Run(Napi::Env env, Exec exec, Done done) {
  auto port = port_of(env);
  auto job = std::make_unique<Job>();
  job->exec = std::move(exec);
  job->done = std::move(done);
  napi_value promise;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &job->deferred, &promise), Napi::Promise());
  if (port->in_flight++ == 0) napi_ref_threadsafe_function(env, port->tsfn);
  ComputeThread::get().post([job = job.release(), port] {
    try {
      job->exec();
    } catch (const std::exception& e) {
      job->failed = true;
      job->error = describe(e);
    } catch (...) {
      job->failed = true;
      job->error = "radbert-native: unknown native error";
    }
    std::lock_guard<std::mutex> lock(port->mu);
    if (!port->alive || napi_call_threadsafe_function(port->tsfn, job, napi_tsfn_nonblocking) != napi_ok) delete job;
  });
  return Napi::Promise(env, promise);
}

}  // namespace radbert::napi
