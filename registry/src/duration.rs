//! Durations as admins type them: `10h`, `90m`, `1h30m`, `45s`.

use std::time::Duration;

/// Parses a duration of one or more `<number><unit>` parts, units `h`, `m`, `s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("'{text}' is not a duration like 30d, 10h, 90m, 1h30m or 45s");
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let value: u64 = number.parse().map_err(|_| bad())?;
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// A duration as an admin writes it: `183d`, `24h`, `1h30m`, `45s`.
pub fn format_duration(duration: Duration) -> String {
    let mut left = duration.as_secs();
    if left == 0 {
        return "0s".into();
    }
    let mut text = String::new();
    for (unit, seconds) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if left >= seconds {
            text.push_str(&format!("{}{unit}", left / seconds));
            left %= seconds;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_days_hours_minutes_and_seconds() {
        assert_eq!(parse_duration("10h"), Ok(Duration::from_secs(36_000)));
        assert_eq!(
            parse_duration("183d"),
            Ok(Duration::from_secs(183 * 86_400))
        );
        for text in ["183d", "1d1h", "24h", "1h30m", "45s"] {
            assert_eq!(
                format_duration(parse_duration(text).unwrap()),
                if text == "24h" { "1d" } else { text }
            );
        }
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration(" 2s "), Ok(Duration::from_secs(2)));
        for bad in [
            "",
            "10",
            "h",
            "0s",
            "10w",
            "1.5h",
            "-1h",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
