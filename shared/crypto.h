// libsodium wrappers: base64 as the Go client writes it, Ed25519 verification, constant-time
// token comparison, and the exact challenge strings of wire-protocol §4.2.
//
// crypto_init() must run once per process before any other call (it calls sodium_init).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace rdv {

using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;

bool crypto_init();

// Standard base64 with padding (Go's base64.StdEncoding). Decoding ignores \r and \n like Go.
std::string base64_encode(const uint8_t* data, size_t len);
bool base64_decode(std::string_view text, std::string* out);
// Accepts standard or URL-safe alphabets, padded or not (rotate_key, badges).
bool base64_decode_any(std::string_view text, std::string* out);

bool decode_public_key(std::string_view b64, PublicKey* key);
bool decode_signature(std::string_view b64, Signature* sig);

bool ed25519_verify(const PublicKey& key, std::string_view message, const uint8_t* sig64);

// Constant-time comparison of a presented token with the configured one. An empty configured
// token never matches. Both sides are hashed first so the comparison does not leak the length.
bool token_equal(std::string_view presented, std::string_view configured);

// Challenge strings (§4.2). Numbers are base 10 without padding.
std::string challenge_register(std::string_view listen_addr, std::string_view public_key_b64);
std::string challenge_node(std::string_view verb, uint32_t node_id);           // "<verb>:<id>"
std::string challenge_pair(std::string_view verb, uint32_t a, uint32_t b);     // "<verb>:<a>:<b>"

}  // namespace rdv
