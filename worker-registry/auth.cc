// Authorisation classes of wire-protocol §4.3: SIG, SIG|ADMIN and ADMIN.
#include "crypto.h"
#include "registry.h"

namespace rdv::registry {

bool verify_counted(Registry& reg, const PublicKey& key, std::string_view msg, const uint8_t* sig) {
  int ahead = reg.verified_ahead(key, msg, sig);
  bool ok = ahead >= 0 ? ahead == 1 : ed25519_verify(key, msg, sig);
  if (auto* p = reg.page()) (ok ? p->signature_verify_ok : p->signature_verify_fail).fetch_add(1, std::memory_order_relaxed);
  return ok;
}

std::string base64_error_detail(std::string_view text) {
  // Go reports the offset of the first byte that is not in the alphabet (or the length when
  // the padding is wrong); we give the same shape.
  size_t i = 0;
  for (; i < text.size(); i++) {
    char c = text[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                 c == '/' || c == '=' || c == '\r' || c == '\n';
    if (!alpha) break;
  }
  if (i == text.size()) i = text.empty() ? 0 : text.size() - 1;
  return "illegal base64 data at input byte " + std::to_string(i);
}

namespace {
// The signature check proper: "" when `sig_b64` verifies over `challenge` with the key.
std::string verify_signature(Registry& reg, const PublicKey& key, std::string_view sig_b64,
                             std::string_view challenge) {
  if (sig_b64.empty()) return "signature required for authenticated node";
  std::string raw;
  if (!base64_decode(sig_b64, &raw)) return "invalid signature encoding: " + base64_error_detail(sig_b64);
  if (raw.size() != 64) return "signature verification failed";
  if (!verify_counted(reg, key, challenge, reinterpret_cast<const uint8_t*>(raw.data())))
    return "signature verification failed";
  return "";
}
}  // namespace

std::string check_admin(Request& r) {
  const std::string& configured = r.reg.config().admin_token;
  if (configured.empty()) return "network creation is disabled";
  if (!token_equal(r.msg.str("admin_token"), configured)) return "invalid admin token";
  return "";
}

std::string check_signature(Request& r, const Node& node, std::string_view challenge) {
  if (!node.has_key) {
    // Legacy key-less record: only the admin token can authorise.
    if (check_admin(r).empty()) return "";
    return "node has no public key: signature or admin token required";
  }
  return verify_signature(r.reg, node.public_key, r.msg.str("signature"), challenge);
}

std::string check_signature_or_admin(Request& r, const Node& node, std::string_view challenge) {
  std::string err = check_signature(r, node, challenge);
  if (err.empty()) return "";
  if (r.msg.has("admin_token") && check_admin(r).empty()) return "";
  return err;
}

}  // namespace rdv::registry
