// `rendezvous-bench --self-test`: checks of the bench's own pure parts (reply checks, JSON field
// scanning, latency histogram). Returns the process exit code.
#pragma once

namespace rdv::bench {

int run_self_test();

}  // namespace rdv::bench
