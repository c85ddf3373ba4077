use super::*;

fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn cron(expr: &str, tz: &str) -> Compiled {
    Compiled::new(&Schedule::Cron(expr.into()), parse_tz(tz).unwrap()).unwrap()
}

/// The next `n` runs after `from`, as RFC 3339 in UTC.
fn runs(c: &Compiled, from: &str, n: usize) -> Vec<String> {
    let mut t = at(from);
    let mut out = Vec::new();
    for _ in 0..n {
        t = c.next_after(t, Timestamp(0)).unwrap();
        out.push(t.to_rfc3339());
    }
    out
}

#[test]
fn fields_lists_ranges_and_steps() {
    assert_eq!(
        runs(&cron("*/15 9-10 * * *", "UTC"), "2025-03-03T09:50:00Z", 4),
        [
            "2025-03-03T10:00:00Z",
            "2025-03-03T10:15:00Z",
            "2025-03-03T10:30:00Z",
            "2025-03-03T10:45:00Z"
        ]
    );
    assert_eq!(
        runs(&cron("5,35 */12 * * *", "UTC"), "2025-03-03T00:06:00Z", 3),
        [
            "2025-03-03T00:35:00Z",
            "2025-03-03T12:05:00Z",
            "2025-03-03T12:35:00Z"
        ]
    );
    assert_eq!(
        runs(&cron("0 0 1 */4 *", "UTC"), "2025-02-10T00:00:00Z", 2),
        ["2025-05-01T00:00:00Z", "2025-09-01T00:00:00Z"]
    );
}

#[test]
fn day_names_and_numbers_mean_the_same_days() {
    // 2025-03-03 is a Monday.
    let names = runs(&cron("0 9 * * MON", "UTC"), "2025-03-01T00:00:00Z", 2);
    assert_eq!(names, ["2025-03-03T09:00:00Z", "2025-03-10T09:00:00Z"]);
    assert_eq!(
        runs(&cron("0 9 * * 1", "UTC"), "2025-03-01T00:00:00Z", 2),
        names
    );
    let weekdays = runs(&cron("30 8 * * mon-fri", "UTC"), "2025-03-07T09:00:00Z", 2);
    assert_eq!(weekdays, ["2025-03-10T08:30:00Z", "2025-03-11T08:30:00Z"]);
    assert_eq!(
        runs(&cron("30 8 * * 1-5", "UTC"), "2025-03-07T09:00:00Z", 2),
        weekdays
    );
    // Sunday is 0 and 7; FRI-SUN is a weekend that wraps to Sunday.
    let sundays = runs(&cron("0 0 * * 0", "UTC"), "2025-03-03T00:00:00Z", 1);
    assert_eq!(sundays, ["2025-03-09T00:00:00Z"]);
    assert_eq!(
        runs(&cron("0 0 * * 7", "UTC"), "2025-03-03T00:00:00Z", 1),
        sundays
    );
    assert_eq!(
        runs(&cron("0 0 * * FRI-SUN", "UTC"), "2025-03-03T00:00:00Z", 3),
        [
            "2025-03-07T00:00:00Z",
            "2025-03-08T00:00:00Z",
            "2025-03-09T00:00:00Z"
        ]
    );
    assert_eq!(
        runs(&cron("0 0 * * */2", "UTC"), "2025-03-03T00:00:00Z", 2),
        ["2025-03-04T00:00:00Z", "2025-03-06T00:00:00Z"],
        "every other day from Sunday: Sun, Tue, Thu, Sat"
    );
    assert_eq!(
        runs(&cron("0 0 * JAN,jul *", "UTC"), "2025-03-03T00:00:00Z", 1),
        ["2025-07-01T00:00:00Z"]
    );
}

#[test]
fn month_ends_and_leap_years() {
    assert_eq!(
        runs(&cron("0 12 31 * *", "UTC"), "2025-01-31T13:00:00Z", 2),
        ["2025-03-31T12:00:00Z", "2025-05-31T12:00:00Z"],
        "months without a 31st are passed over"
    );
    assert_eq!(
        runs(&cron("0 0 29 2 *", "UTC"), "2025-01-01T00:00:00Z", 2),
        ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]
    );
    assert_eq!(
        runs(&cron("0 0 28-29 2 *", "UTC"), "2024-12-01T00:00:00Z", 3),
        [
            "2025-02-28T00:00:00Z",
            "2026-02-28T00:00:00Z",
            "2027-02-28T00:00:00Z"
        ]
    );
}

#[test]
fn day_of_month_and_day_of_week_must_both_match() {
    // Friday the 13th.
    assert_eq!(
        runs(&cron("0 0 13 * FRI", "UTC"), "2025-01-01T00:00:00Z", 2),
        ["2025-06-13T00:00:00Z", "2026-02-13T00:00:00Z"]
    );
}

#[test]
fn cron_runs_in_the_schedules_time_zone() {
    assert_eq!(
        runs(
            &cron("0 9 * * *", "Europe/Paris"),
            "2025-01-15T00:00:00Z",
            1
        ),
        ["2025-01-15T08:00:00Z"]
    );
    assert_eq!(
        runs(
            &cron("0 9 * * *", "Europe/Paris"),
            "2025-07-15T00:00:00Z",
            1
        ),
        ["2025-07-15T07:00:00Z"]
    );
    assert_eq!(
        runs(
            &cron("0 9 * * *", "Asia/Kolkata"),
            "2025-07-15T00:00:00Z",
            1
        ),
        ["2025-07-15T03:30:00Z"]
    );
}

#[test]
fn a_local_time_that_does_not_exist_is_skipped() {
    // Paris, 2025-03-30: 02:00 jumps to 03:00, so 02:30 does not exist that day.
    assert_eq!(
        runs(
            &cron("30 2 * * *", "Europe/Paris"),
            "2025-03-29T00:00:00Z",
            3
        ),
        [
            "2025-03-29T01:30:00Z",
            "2025-03-31T00:30:00Z",
            "2025-04-01T00:30:00Z"
        ]
    );
    // New York, 2025-03-09: 02:00 jumps to 03:00.
    assert_eq!(
        runs(
            &cron("15 2 * * *", "America/New_York"),
            "2025-03-08T00:00:00Z",
            2
        ),
        ["2025-03-08T07:15:00Z", "2025-03-10T06:15:00Z"]
    );
    // Hourly runs simply have one hour fewer that day.
    assert_eq!(
        runs(
            &cron("0 * * * *", "America/New_York"),
            "2025-03-09T06:30:00Z",
            2
        ),
        ["2025-03-09T07:00:00Z", "2025-03-09T08:00:00Z"],
        "01:00 EST then 03:00 EDT"
    );
}

#[test]
fn a_local_time_that_occurs_twice_fires_once() {
    // Paris, 2025-10-26: 03:00 goes back to 02:00, so 02:30 happens twice.
    assert_eq!(
        runs(
            &cron("30 2 * * *", "Europe/Paris"),
            "2025-10-25T12:00:00Z",
            2
        ),
        ["2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"]
    );
    // New York, 2025-11-02: 02:00 goes back to 01:00; 01:30 fires at its first occurrence.
    assert_eq!(
        runs(
            &cron("30 1 * * *", "America/New_York"),
            "2025-11-01T12:00:00Z",
            2
        ),
        ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"]
    );
    // Starting inside the repeated hour does not fire it again.
    assert_eq!(
        runs(
            &cron("30 1 * * *", "America/New_York"),
            "2025-11-02T05:45:00Z",
            1
        ),
        ["2025-11-03T06:30:00Z"]
    );
}

#[test]
fn intervals_count_from_their_anchor() {
    let c = Compiled::new(&Schedule::Interval(3600), parse_tz("Europe/Paris").unwrap()).unwrap();
    let anchor = at("2025-03-30T00:10:00Z");
    assert_eq!(
        c.next_after(at("2025-03-29T00:00:00Z"), anchor),
        Some(anchor)
    );
    assert_eq!(
        c.next_after(anchor, anchor),
        Some(at("2025-03-30T01:10:00Z")),
        "absolute time: the DST jump changes nothing"
    );
    assert_eq!(
        c.next_after(at("2025-03-30T05:00:00Z"), anchor),
        Some(at("2025-03-30T05:10:00Z"))
    );
    assert_eq!(
        c.next_after(at("2025-03-30T05:10:00Z"), anchor),
        Some(at("2025-03-30T06:10:00Z"))
    );
}

#[test]
fn bad_schedules_are_refused() {
    let utc = parse_tz("UTC").unwrap();
    for bad in [
        "* * * *",
        "* * * * * *",
        "61 * * * *",
        "* 24 * * *",
        "* * 32 * *",
        "* * * 13 *",
        "* * * * 8",
        "* * * * FUNDAY",
        "* * * * */0",
        "nonsense",
    ] {
        assert!(
            Compiled::new(&Schedule::Cron(bad.into()), utc).is_err(),
            "{bad}"
        );
    }
    assert_eq!(
        Compiled::new(&Schedule::Interval(0), utc).unwrap_err(),
        ScheduleError::Interval
    );
    assert!(parse_tz("Mars/Olympus").is_err());
    assert!(parse_tz("America/Sao_Paulo").is_ok());
}
