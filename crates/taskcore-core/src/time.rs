//! Timestamps as microseconds since the Unix epoch, UTC.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// A point in time, microseconds since 1970-01-01T00:00:00Z.
///
/// Stored as an integer so that records encode compactly and compare cheaply; rendered as
/// RFC 3339 with a `Z` suffix at the edge.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Microseconds in one second.
    pub const SECOND: i64 = 1_000_000;

    /// Converts from chrono; instants outside ±292,000 years saturate.
    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        Timestamp(dt.timestamp_micros())
    }

    /// Converts to chrono; a value that chrono cannot represent becomes the epoch.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or_default()
    }

    /// RFC 3339 in UTC with a `Z` suffix; microseconds only when non-zero.
    pub fn to_rfc3339(self) -> String {
        let dt = self.to_datetime();
        if self.0.rem_euclid(Self::SECOND) == 0 {
            dt.to_rfc3339_opts(SecondsFormat::Secs, true)
        } else {
            dt.to_rfc3339_opts(SecondsFormat::Micros, true)
        }
    }

    /// Parses an RFC 3339 timestamp with any offset.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let dt = DateTime::parse_from_rfc3339(s.trim()).ok()?;
        Some(Timestamp::from_datetime(dt.with_timezone(&Utc)))
    }

    /// Parses an RFC 3339 timestamp or a bare `YYYY-MM-DD` date (midnight UTC), as date
    /// filters accept.
    pub fn parse_date_or_datetime(s: &str) -> Option<Self> {
        if let Some(ts) = Self::parse_rfc3339(s) {
            return Some(ts);
        }
        let date = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
        Some(Timestamp::from_datetime(
            date.and_hms_opt(0, 0, 0)?.and_utc(),
        ))
    }

    /// The start of this instant's UTC day.
    pub fn start_of_day(self) -> Self {
        let day = 86_400 * Self::SECOND;
        Timestamp(self.0 - self.0.rem_euclid(day))
    }

    /// Whole milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn millis_since(self, earlier: Timestamp) -> i64 {
        (self.0 - earlier.0) / 1000
    }

    /// This instant moved by `micros`, saturating.
    pub fn plus_micros(self, micros: i64) -> Self {
        Timestamp(self.0.saturating_add(micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_z_and_optional_micros() {
        let t = Timestamp::parse_rfc3339("2024-12-20T14:30:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-12-20T14:30:00Z");
        let t = Timestamp::parse_rfc3339("2024-12-20T15:30:00.123456+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-12-20T14:30:00.123456Z");
    }

    #[test]
    fn bare_dates_are_midnight_utc() {
        let t = Timestamp::parse_date_or_datetime("2024-12-01").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-12-01T00:00:00Z");
        assert!(Timestamp::parse_date_or_datetime("2024-13-01").is_none());
        assert!(Timestamp::parse_date_or_datetime("yesterday").is_none());
    }

    #[test]
    fn start_of_day_handles_times_before_the_epoch() {
        let t = Timestamp::parse_rfc3339("1969-12-31T23:00:00Z").unwrap();
        assert_eq!(t.start_of_day().to_rfc3339(), "1969-12-31T00:00:00Z");
    }
}
