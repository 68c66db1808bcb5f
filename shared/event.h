// Owners for libevent handles (STYLE.md: one owner per handle).
#pragma once

#include <event2/event.h>

#include <memory>

namespace rdv {

struct EventBaseFree {
  void operator()(event_base* b) const { event_base_free(b); }
};
struct EventFree {
  void operator()(event* e) const { event_free(e); }
};
using EventBasePtr = std::unique_ptr<event_base, EventBaseFree>;
using EventPtr = std::unique_ptr<event, EventFree>;

}  // namespace rdv
