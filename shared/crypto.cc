#include "crypto.h"

#include <sodium.h>

#include <array>
#include <string>

namespace rdv {

bool crypto_init() { return sodium_init() >= 0; }

// Table-driven: keys and signatures are public data, so libsodium's constant-time encoder
// buys nothing here and costs several times more on every lookup reply.
std::string base64_encode(const uint8_t* data, size_t len) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.resize((len + 2) / 3 * 4);
  char* o = out.data();
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = uint32_t(data[i]) << 16 | uint32_t(data[i + 1]) << 8 | data[i + 2];
    *o++ = tbl[v >> 18];
    *o++ = tbl[(v >> 12) & 63];
    *o++ = tbl[(v >> 6) & 63];
    *o++ = tbl[v & 63];
  }
  if (i < len) {
    uint32_t v = uint32_t(data[i]) << 16 | (i + 1 < len ? uint32_t(data[i + 1]) << 8 : 0);
    *o++ = tbl[v >> 18];
    *o++ = tbl[(v >> 12) & 63];
    *o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  return out;
}

namespace {
bool decode_variant(std::string_view text, std::string* out, int variant) {
  out->assign(text.size() * 3 / 4 + 3, '\0');
  size_t n = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out->data()), out->size(), text.data(),
                        text.size(), "\r\n", &n, &end, variant) != 0)
    return false;
  if (end != text.data() + text.size()) return false;
  out->resize(n);
  return true;
}
}  // namespace

// Go's base64.StdEncoding.DecodeString: padding required, '\r' and '\n' skipped, anything
// else outside the alphabet rejected. Table-driven (keys and signatures are public data).
bool base64_decode(std::string_view text, std::string* out) {
  static const auto table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; i++) t[uint8_t(alphabet[i])] = int8_t(i);
    return t;
  }();
  out->clear();
  out->reserve(text.size() / 4 * 3);
  uint32_t quad[4];
  int n = 0, pad = 0;
  size_t i = 0;
  for (; i < text.size(); i++) {
    char ch = text[i];
    if (ch == '\r' || ch == '\n') continue;
    if (pad) {
      // Only more '=' may follow the first '='.
      if (ch != '=') return false;
      quad[n++] = 0;
      pad++;
    } else if (ch == '=') {
      if (n < 2) return false;
      quad[n++] = 0;
      pad = 1;
    } else {
      int8_t v = table[uint8_t(ch)];
      if (v < 0) return false;
      quad[n++] = uint32_t(v);
    }
    if (n == 4) {
      uint32_t v = quad[0] << 18 | quad[1] << 12 | quad[2] << 6 | quad[3];
      out->push_back(char(v >> 16));
      if (pad < 2) out->push_back(char(v >> 8));
      if (pad < 1) out->push_back(char(v));
      n = 0;
      if (pad) break;
    }
  }
  if (n != 0) return false;  // a partial group: Go reports illegal data at the end
  // Nothing but line breaks may follow the padding.
  for (i = i + 1; i < text.size(); i++)
    if (text[i] != '\r' && text[i] != '\n') return false;
  return true;
}

bool base64_decode_any(std::string_view text, std::string* out) {
  for (int v : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING})
    if (decode_variant(text, out, v)) return true;
  return false;
}

bool decode_public_key(std::string_view b64, PublicKey* key) {
  std::string raw;
  if (!base64_decode(b64, &raw) || raw.size() != key->size()) return false;
  std::copy(raw.begin(), raw.end(), key->begin());
  return true;
}

bool decode_signature(std::string_view b64, Signature* sig) {
  std::string raw;
  if (!base64_decode(b64, &raw) || raw.size() != sig->size()) return false;
  std::copy(raw.begin(), raw.end(), sig->begin());
  return true;
}

bool ed25519_verify(const PublicKey& key, std::string_view message, const uint8_t* sig64) {
  return crypto_sign_verify_detached(sig64, reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), key.data()) == 0;
}

bool token_equal(std::string_view presented, std::string_view configured) {
  if (configured.empty() || presented.empty()) return false;
  unsigned char a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];
  crypto_generichash(a, sizeof a, reinterpret_cast<const unsigned char*>(presented.data()),
                     presented.size(), nullptr, 0);
  crypto_generichash(b, sizeof b, reinterpret_cast<const unsigned char*>(configured.data()),
                     configured.size(), nullptr, 0);
  return sodium_memcmp(a, b, sizeof a) == 0;
}

std::string challenge_register(std::string_view listen_addr, std::string_view pub) {
  std::string s = "register:";
  s += listen_addr;
  s += ':';
  s += pub;
  return s;
}

std::string challenge_node(std::string_view verb, uint32_t id) {
  std::string s(verb);
  s += ':';
  s += std::to_string(id);
  return s;
}

std::string challenge_pair(std::string_view verb, uint32_t a, uint32_t b) {
  std::string s(verb);
  s += ':';
  s += std::to_string(a);
  s += ':';
  s += std::to_string(b);
  return s;
}

}  // namespace rdv
