//! Compile-time parsing of lifetimes (`"14d"`), the same grammar as
//! `auth_core::Lifetime::parse` (the macro crate cannot depend on auth-core).

/// Seconds of `<positive integer><s|m|h|d>`, or what is wrong with it.
pub fn parse_secs(s: &str) -> Result<u64, &'static str> {
    let s = s.trim();
    let unit_at = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("has no unit: write it like \"60s\", \"15m\", \"12h\" or \"14d\"")?;
    let (digits, unit) = s.split_at(unit_at);
    if digits.is_empty() {
        return Err("does not parse: write a whole number and a unit, like \"14d\"");
    }
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err("has an unknown unit: use s, m, h or d, like \"14d\""),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|secs| *secs <= 100 * 365 * 86_400)
        .ok_or("is too large: at most 100 years")
}

#[cfg(test)]
mod tests {
    use super::parse_secs;

    /// The cases shared with `auth_core::Lifetime::parse`.
    #[test]
    fn shared_cases() {
        for line in include_str!("lifetime_cases.txt").lines() {
            let Some((input, want)) = line.split_once("=>") else {
                continue;
            };
            if line.starts_with('#') {
                continue;
            }
            let got = parse_secs(input).ok();
            let want = want.trim().parse::<u64>().ok();
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn grammar() {
        assert_eq!(parse_secs("14d"), Ok(14 * 86_400));
        assert_eq!(parse_secs("60s"), Ok(60));
        assert_eq!(parse_secs("0s"), Ok(0));
        assert!(parse_secs("14").is_err());
        assert!(parse_secs("d").is_err());
        assert!(parse_secs("5y").is_err());
        assert!(parse_secs("1.5h").is_err());
        assert!(parse_secs("99999999999999d").is_err());
    }
}
