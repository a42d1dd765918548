//! Subject parsing on arbitrary input: never panics, and a parsed subject
//! prints back to a string that parses to the same subject.
#![no_main]

use auth_core::Subject;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(subject) = Subject::parse(s) else { return };
    let _ = subject.key::<i64>("user", "id");
    let _ = subject.key::<uuid::Uuid>("user", "id");
    let _ = subject.key::<String>(subject.name(), "id");
    let again = Subject::parse(&subject.to_string()).expect("a printed subject parses");
    assert_eq!(again, subject, "round trip of {s:?}");
});
