//! The lifetime grammar, case by case (`lifetime_cases.txt`).

#[test]
fn lifetimes_parse_as_the_cases_say() {
    for line in include_str!("lifetime_cases.txt").lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((input, want)) = line.split_once("=>") else {
            continue;
        };
        let got = auth_dsl::parse_lifetime_secs(input).ok();
        assert_eq!(got, want.trim().parse::<u64>().ok(), "{input:?}");
    }
}

#[test]
fn every_error_says_how_to_write_it() {
    use auth_dsl::{LifetimeError, parse_lifetime_secs};
    assert_eq!(parse_lifetime_secs("14"), Err(LifetimeError::MissingUnit));
    assert_eq!(parse_lifetime_secs("5y"), Err(LifetimeError::UnknownUnit));
    assert_eq!(parse_lifetime_secs("d"), Err(LifetimeError::NotANumber));
    assert_eq!(parse_lifetime_secs("36501d"), Err(LifetimeError::TooLarge));
    assert!(LifetimeError::MissingUnit.to_string().contains("\"14d\""));
}
