// Which threads may block. I/O threads (the HTTP server's, the async runtime's) must never wait
// on the database, a service mutex or the disk for long: each blocking entry point calls
// expect_blocking_allowed(), and a call from an I/O thread is a violation. With
// ATRIUM_STRICT_THREADS=1 in the environment (the test suites set it) a violation aborts the
// process, so the tests fail; otherwise it is logged once per call site.
#pragma once

namespace atrium {

// Marks the calling thread as an I/O thread for its lifetime.
void mark_io_thread();
bool on_io_thread();
// `what`: the call site (a string literal), named in the report.
void expect_blocking_allowed(const char* what);

}  // namespace atrium
