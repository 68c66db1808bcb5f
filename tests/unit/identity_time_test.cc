// set_key_expiry's time parsing (worker-registry/identity.h): Go's time.Parse(time.RFC3339, …)
// acceptance and error texts, which the client sees verbatim ("invalid expires_at: …"), and the
// echo in the offset the time came with (client-expectations D16).
#include "worker-registry/identity.h"

#include <gtest/gtest.h>

namespace {

using rdv::registry::format_go_rfc3339;
using rdv::registry::GoTime;
using rdv::registry::parse_go_rfc3339;

GoTime parsed(const std::string& text) {
  GoTime t;
  std::string err = parse_go_rfc3339(text, &t);
  EXPECT_EQ(err, "") << text;
  return t;
}

std::string error_of(const std::string& text) {
  GoTime t;
  return parse_go_rfc3339(text, &t);
}

const std::string kLayout = "\"2006-01-02T15:04:05Z07:00\"";

TEST(GoRfc3339, Utc) {
  GoTime t = parsed("2026-01-02T15:04:05Z");
  EXPECT_EQ(t.unix, 1767366245);
  EXPECT_EQ(t.nanos, 0);
  EXPECT_EQ(t.offset, 0);
}

TEST(GoRfc3339, NumericOffsets) {
  GoTime t = parsed("2026-01-02T15:04:05+02:00");
  EXPECT_EQ(t.unix, 1767359045);
  EXPECT_EQ(t.offset, 7200);
  t = parsed("2026-01-02T15:04:05-05:30");
  EXPECT_EQ(t.unix, 1767386045);
  EXPECT_EQ(t.offset, -19800);
  t = parsed("2026-01-02T15:04:05+00:00");
  EXPECT_EQ(t.unix, 1767366245);
  EXPECT_EQ(t.offset, 0);
  // Go's bounds are > 24 h and > 60 min.
  EXPECT_EQ(parsed("2026-01-02T15:04:05+24:00").offset, 86400);
}

TEST(GoRfc3339, FractionsAndShortHours) {
  EXPECT_EQ(parsed("2026-01-02T15:04:05.123456789Z").nanos, 123456789);
  EXPECT_EQ(parsed("2026-01-02T15:04:05,5Z").nanos, 500000000);
  EXPECT_EQ(parsed("2026-01-02T15:04:05.1234567891234Z").nanos, 123456789);  // digits past 9 dropped
  EXPECT_EQ(parsed("2026-01-02T5:04:05Z").unix, 1767366245 - 10 * 3600);    // Go takes a 1-digit hour
}

TEST(GoRfc3339, CalendarEdges) {
  EXPECT_EQ(parsed("2024-02-29T00:00:00Z").unix, 1709164800);
  EXPECT_EQ(parsed("0001-01-01T00:00:00Z").unix, -62135596800);  // Go's zero time (SetKeyExpiry(zero))
  EXPECT_EQ(error_of("2026-02-29T00:00:00Z"), "parsing time \"2026-02-29T00:00:00Z\": day out of range");
  EXPECT_EQ(error_of("2026-04-31T00:00:00Z"), "parsing time \"2026-04-31T00:00:00Z\": day out of range");
  EXPECT_EQ(error_of("2026-01-00T00:00:00Z"), "parsing time \"2026-01-00T00:00:00Z\": day out of range");
}

TEST(GoRfc3339, GoErrorTexts) {
  EXPECT_EQ(error_of("not-a-date"),
            "parsing time \"not-a-date\" as " + kLayout + ": cannot parse \"not-a-date\" as \"2006\"");
  EXPECT_EQ(error_of(""), "parsing time \"\" as " + kLayout + ": cannot parse \"\" as \"2006\"");
  EXPECT_EQ(error_of("2026-13-01T00:00:00Z"), "parsing time \"2026-13-01T00:00:00Z\": month out of range");
  EXPECT_EQ(error_of("2026-01-02T24:00:00Z"), "parsing time \"2026-01-02T24:00:00Z\": hour out of range");
  EXPECT_EQ(error_of("2026-01-02T15:60:00Z"), "parsing time \"2026-01-02T15:60:00Z\": minute out of range");
  EXPECT_EQ(error_of("2026-01-02T15:04:60Z"), "parsing time \"2026-01-02T15:04:60Z\": second out of range");
  EXPECT_EQ(error_of("2026-01-02T15:04:05+25:00"),
            "parsing time \"2026-01-02T15:04:05+25:00\": time zone offset hour out of range");
  EXPECT_EQ(error_of("2026-01-02T15:04:05+25:61"),
            "parsing time \"2026-01-02T15:04:05+25:61\": time zone offset minute out of range");
  EXPECT_EQ(error_of("2026-01-02T15:04:05+99:xx"),
            "parsing time \"2026-01-02T15:04:05+99:xx\": time zone offset hour out of range");
  EXPECT_EQ(error_of("2026-01-02T15:04:05*02:00"),
            "parsing time \"2026-01-02T15:04:05*02:00\" as " + kLayout + ": cannot parse \"*02:00\" as \"Z07:00\"");
  EXPECT_EQ(error_of("2026-01-02T15:04:05"),
            "parsing time \"2026-01-02T15:04:05\" as " + kLayout + ": cannot parse \"\" as \"Z07:00\"");
  EXPECT_EQ(error_of("2026-01-02T15:04:05+0200"),
            "parsing time \"2026-01-02T15:04:05+0200\" as " + kLayout + ": cannot parse \"+0200\" as \"Z07:00\"");
  EXPECT_EQ(error_of("2026-01-02T15:04:05z"),
            "parsing time \"2026-01-02T15:04:05z\" as " + kLayout + ": cannot parse \"z\" as \"Z07:00\"");
  EXPECT_EQ(error_of("2026-01-02 15:04:05Z"),
            "parsing time \"2026-01-02 15:04:05Z\" as " + kLayout + ": cannot parse \" 15:04:05Z\" as \"T\"");
  EXPECT_EQ(error_of("2026-1-02T15:04:05Z"),
            "parsing time \"2026-1-02T15:04:05Z\" as " + kLayout + ": cannot parse \"1-02T15:04:05Z\" as \"01\"");
  EXPECT_EQ(error_of("2026-01-02T15:04:05Zjunk"), "parsing time \"2026-01-02T15:04:05Zjunk\": extra text: \"junk\"");
  EXPECT_EQ(error_of("2a26-01-02T15:04:05Z"),
            "parsing time \"2a26-01-02T15:04:05Z\" as " + kLayout + ": cannot parse \"2a26-01-02T15:04:05Z\" as \"2006\"");
  // Bytes outside printable ASCII are escaped as Go's time package does.
  EXPECT_EQ(error_of("\xc3\xa9"), "parsing time \"\\xc3\\xa9\" as " + kLayout + ": cannot parse \"\\xc3\\xa9\" as \"2006\"");
}

TEST(GoRfc3339, FormatInTheGivenOffset) {
  EXPECT_EQ(format_go_rfc3339(1767366245, 0), "2026-01-02T15:04:05Z");
  EXPECT_EQ(format_go_rfc3339(1767359045, 7200), "2026-01-02T15:04:05+02:00");
  EXPECT_EQ(format_go_rfc3339(1767386045, -19800), "2026-01-02T15:04:05-05:30");
  EXPECT_EQ(format_go_rfc3339(-62135596800, 0), "0001-01-01T00:00:00Z");
  EXPECT_EQ(format_go_rfc3339(1709164800 - 1, 0), "2024-02-28T23:59:59Z");
  for (const char* s : {"2026-01-02T15:04:05+02:00", "2030-12-31T23:59:59-11:00", "2027-06-01T00:00:00Z"}) {
    GoTime t = parsed(s);
    EXPECT_EQ(format_go_rfc3339(t.unix, t.offset), s);
  }
}

}  // namespace
