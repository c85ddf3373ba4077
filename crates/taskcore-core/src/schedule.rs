//! When a periodic task runs: a 5-field cron expression or an interval, in an IANA time zone.
//!
//! Cron expressions are parsed and matched by the `cron` crate and local times resolved with
//! `chrono-tz`; this module adapts the classic 5-field syntax to them and settles daylight-saving
//! transitions: a local time that does not exist (the clock jumps over it) is skipped, and one
//! that occurs twice (the clock goes back) fires once, at its first occurrence. Day of month and
//! day of week must both match when both are restricted, as in celery's `crontab`. Intervals
//! count from the schedule's anchor in absolute time, so time zones do not affect them.
//!
//! Pure: the same inputs give the same times on every node.

use std::str::FromStr;

use chrono::{LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::Timestamp;

/// How often a periodic task runs.
///
/// **Append only**: stored and replicated by variant position.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Schedule {
    /// A 5-field cron expression: minute, hour, day of month, month, day of week.
    Cron(String),
    /// Every this many seconds, counted from the anchor.
    Interval(u64),
}

/// Why a schedule does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not five fields, or a field the cron parser refuses.
    #[error("Invalid cron expression: {0}")]
    Cron(String),
    /// An interval of zero seconds or over ten years.
    #[error("interval_seconds must be from 1 to 315360000.")]
    Interval,
    /// A time zone name the IANA database does not know.
    #[error("Unknown time zone {0:?}.")]
    TimeZone(String),
}

/// Longest interval accepted (ten years).
pub const MAX_INTERVAL_SECONDS: u64 = 315_360_000;

/// A schedule ready to compute run times.
#[derive(Clone, Debug)]
pub struct Compiled {
    kind: Kind,
    tz: Tz,
}

#[derive(Clone, Debug)]
enum Kind {
    Cron(Box<cron::Schedule>),
    Interval(i64),
}

/// Parses an IANA time zone name.
///
/// # Errors
/// [`ScheduleError::TimeZone`] for an unknown name.
pub fn parse_tz(name: &str) -> Result<Tz, ScheduleError> {
    Tz::from_str(name).map_err(|_| ScheduleError::TimeZone(name.to_owned()))
}

/// The day-of-week field in the `cron` crate's numbering (1 = Sunday … 7 = Saturday) rewritten
/// as names, from the classic numbering (0 or 7 = Sunday, 1 = Monday … 6 = Saturday): numbers,
/// ranges, lists and steps are expanded to the set of days they denote.
fn day_of_week_names(field: &str) -> Result<String, ScheduleError> {
    const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let bad = || ScheduleError::Cron(format!("day of week {field:?}"));
    // 0 to 7 (7 kept as is, so that `5-7` is a range), or a three-letter name.
    let day = |s: &str| -> Result<usize, ScheduleError> {
        match s.parse::<usize>() {
            Ok(n) if n <= 7 => Ok(n),
            Ok(_) => Err(bad()),
            Err(_) => NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(s))
                .ok_or_else(bad),
        }
    };
    if field == "*" || field == "?" {
        return Ok("*".to_owned());
    }
    let mut days = [false; 7];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<usize>().ok().filter(|&s| s > 0).ok_or_else(bad)?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = match range {
            "*" => (0, 6),
            r => match r.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    // `FRI-SUN` runs to Sunday: Sunday ends a range as 7.
                    (a, if b == 0 && a > 0 { 7 } else { b })
                }
                None if step > 1 => (day(r)?, 6),
                None => {
                    let d = day(r)?;
                    (d, d)
                }
            },
        };
        if lo > hi || hi > 7 {
            return Err(bad());
        }
        for d in (lo..=hi).step_by(step) {
            days[d % 7] = true;
        }
    }
    let names: Vec<&str> = (0..7).filter(|&d| days[d]).map(|d| NAMES[d]).collect();
    Ok(names.join(","))
}

impl Compiled {
    /// Compiles a schedule in time zone `tz`.
    ///
    /// # Errors
    /// A cron expression that does not parse, or an interval out of range.
    pub fn new(schedule: &Schedule, tz: Tz) -> Result<Self, ScheduleError> {
        let kind = match schedule {
            Schedule::Interval(s) if (1..=MAX_INTERVAL_SECONDS).contains(s) => {
                Kind::Interval(*s as i64 * Timestamp::SECOND)
            }
            Schedule::Interval(_) => return Err(ScheduleError::Interval),
            Schedule::Cron(expr) => {
                let fields: Vec<&str> = expr.split_whitespace().collect();
                let [minute, hour, dom, month, dow] = fields[..] else {
                    return Err(ScheduleError::Cron(format!(
                        "{expr:?} must have five fields: minute hour day-of-month month day-of-week"
                    )));
                };
                let dom = if dom == "?" { "*" } else { dom };
                let six = format!(
                    "0 {minute} {hour} {dom} {month} {}",
                    day_of_week_names(dow)?
                );
                let parsed = cron::Schedule::from_str(&six)
                    .map_err(|e| ScheduleError::Cron(format!("{expr:?}: {e}")))?;
                Kind::Cron(Box::new(parsed))
            }
        };
        Ok(Compiled { kind, tz })
    }

    /// The first run strictly after `after`; `anchor` is where intervals count from. `None`
    /// when the cron expression never matches again.
    pub fn next_after(&self, after: Timestamp, anchor: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Interval(step) => {
                if after < anchor {
                    return Some(anchor);
                }
                let k = (after.0 - anchor.0) / step + 1;
                Some(Timestamp(anchor.0.checked_add(k.checked_mul(*step)?)?))
            }
            Kind::Cron(schedule) => {
                // Whole seconds: cron matches on second 0, so start from `after`'s second.
                let start = Utc
                    .timestamp_opt(after.0.div_euclid(Timestamp::SECOND), 0)
                    .single()?
                    .with_timezone(&self.tz);
                schedule
                    .after(&start)
                    .take(4)
                    .find(|t| self.first_occurrence(t.naive_local(), t.timestamp()))
                    .map(|t| Timestamp(t.timestamp() * Timestamp::SECOND))
                    .filter(|t| *t > after)
            }
        }
    }

    /// Whether this instant is the first (or only) one with its local time: when the clock
    /// goes back, the repeated local times fire once.
    fn first_occurrence(&self, local: NaiveDateTime, seconds: i64) -> bool {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Ambiguous(first, _) => first.timestamp() == seconds,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests;
