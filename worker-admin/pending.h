// The pending-registration accept queue as the admin worker shows it (pending.cc serves
// /api/admin/pending; the dashboard's token view shows the first entries).
#pragma once

#include <cstddef>
#include <string>

#include "shared/json.h"
#include "shared/store.h"

namespace rdv::admin {

// {"count":N,"pending":[{"id","public_key","listen_addr","observed_addr","requested_at"}…]}
// with at most `limit` entries (count is always the whole queue). Null with *error when the
// store cannot be read. Its own read transaction; safe from any thread.
JsonPtr pending_json(Env& env, size_t limit, std::string* error);

}  // namespace rdv::admin
