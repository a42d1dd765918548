//! Subjects: `<subject_name>?<url-encoded primary key pairs>`, built and parsed.

use crate::column::FieldKind;
use crate::error::{Error, truncated};

/// A primary-key type that can live in a subject (`Uuid`, `String`, `i64`, `i32`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the primary key of a user resource",
    label = "use `Uuid`, `String`, `i64` or `i32`"
)]
pub trait SubjectKey: Sized + Send + Sync + 'static {
    /// What the key is, for a store choosing its column type (a SQL store
    /// casts the text parameter to it, so an index on the column is used).
    const KIND: FieldKind;
    /// The key as the text written into the subject (before URL-encoding).
    fn to_subject_value(&self) -> String;
    /// Parses the (already URL-decoded) text back.
    fn from_subject_value(value: &str) -> Option<Self>;
}

impl SubjectKey for uuid::Uuid {
    const KIND: FieldKind = FieldKind::Uuid;
    fn to_subject_value(&self) -> String {
        self.hyphenated().to_string()
    }
    fn from_subject_value(value: &str) -> Option<Self> {
        uuid::Uuid::parse_str(value).ok()
    }
}

impl SubjectKey for String {
    const KIND: FieldKind = FieldKind::Text;
    fn to_subject_value(&self) -> String {
        self.clone()
    }
    fn from_subject_value(value: &str) -> Option<Self> {
        Some(value.to_owned())
    }
}

macro_rules! int_subject_key {
    ($($t:ty => $kind:expr),*) => {$(
        impl SubjectKey for $t {
            const KIND: FieldKind = $kind;
            fn to_subject_value(&self) -> String {
                self.to_string()
            }
            fn from_subject_value(value: &str) -> Option<Self> {
                // `str::parse` accepts a leading `+`; a subject has one spelling only.
                if value.starts_with('+') { return None; }
                value.parse().ok()
            }
        }
    )*};
}
int_subject_key!(i64 => FieldKind::Int64, i32 => FieldKind::Int32);

/// A parsed subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    name: String,
    pairs: Vec<(String, String)>,
}

impl Subject {
    /// A subject for one primary key field.
    pub fn new(name: &str, key_field: &str, key: &impl SubjectKey) -> Self {
        Self {
            name: name.to_owned(),
            pairs: vec![(key_field.to_owned(), key.to_subject_value())],
        }
    }

    /// Parses `<name>?<pairs>`: the name is letters, digits, `_` and `-`
    /// (as `subject_name` allows), and there is at least one pair.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let malformed = || {
            Error::InvalidSubject(format!(
                "expected `<name>?<key>=<value>`, got `{}`",
                truncated(s)
            ))
        };
        let (name, query) = s.split_once('?').ok_or_else(malformed)?;
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(malformed());
        }
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if pairs.is_empty() {
            return Err(malformed());
        }
        Ok(Self {
            name: name.to_owned(),
            pairs,
        })
    }

    /// The subject name (the user resource).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The decoded key pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Reads the single key field `field` of a subject named `name`.
    ///
    /// Fails with [`Error::WrongSubject`] when the name differs, and with
    /// [`Error::InvalidSubject`] when the pairs are not exactly `field=<key>`
    /// or the key does not parse.
    pub fn key<K: SubjectKey>(&self, name: &str, field: &str) -> Result<K, Error> {
        if self.name != name {
            return Err(Error::WrongSubject {
                expected: name.to_owned(),
                found: truncated(&self.name),
            });
        }
        match self.pairs.as_slice() {
            [(k, v)] if k == field => K::from_subject_value(v).ok_or_else(|| {
                Error::InvalidSubject(format!("`{field}` does not parse: `{}`", truncated(v)))
            }),
            _ => Err(Error::InvalidSubject(format!(
                "expected exactly the key `{field}`"
            ))),
        }
    }
}

/// Reads the key of a subject string that must be in canonical form: the
/// spelling this framework writes (`Subject::new(..).to_string()`). Another
/// spelling of the same key (an upper-case UUID, `urn:uuid:`, `%69d` for
/// `id`) is refused, so one user has exactly one subject.
pub(crate) fn canonical_key<K: SubjectKey>(sub: &str, name: &str, field: &str) -> Result<K, Error> {
    let key: K = Subject::parse(sub)?.key(name, field)?;
    if Subject::new(name, field, &key).to_string() != sub {
        return Err(Error::InvalidSubject(format!(
            "subject is not in canonical form: `{}`",
            truncated(sub)
        )));
    }
    Ok(key)
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.pairs.iter())
            .finish();
        write!(f, "{}?{}", self.name, query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<K: SubjectKey + PartialEq + std::fmt::Debug>(key: K) -> String {
        let s = Subject::new("user", "id", &key).to_string();
        let back: K = Subject::parse(&s).unwrap().key("user", "id").unwrap();
        assert_eq!(back, key);
        s
    }

    #[test]
    fn uuid_string_and_integer_keys_round_trip() {
        let id = uuid::Uuid::from_u128(0x5f0c_0000_0000_4000_8000_0000_0000_0001);
        assert_eq!(round_trip(id), format!("user?id={id}"));
        assert_eq!(round_trip(42_i64), "user?id=42");
        assert_eq!(round_trip(-7_i64), "user?id=-7");
        assert_eq!(round_trip(i64::MAX), format!("user?id={}", i64::MAX));
        assert_eq!(round_trip(String::from("plain")), "user?id=plain");
    }

    #[test]
    fn keys_needing_url_encoding_round_trip() {
        for k in ["a b", "a&b=c", "ä?#/%+", "", "line\nbreak", "🦀"] {
            let s = round_trip(k.to_owned());
            assert!(
                !s[5..].contains(['&', '#', ' ', '\n']) || k.is_empty(),
                "{s}"
            );
        }
        assert_eq!(round_trip("a&b=c".to_owned()), "user?id=a%26b%3Dc");
    }

    #[test]
    fn malformed_subjects_are_refused() {
        assert!(matches!(
            Subject::parse("user"),
            Err(Error::InvalidSubject(_))
        ));
        assert!(matches!(
            Subject::parse("?id=1"),
            Err(Error::InvalidSubject(_))
        ));
        assert!(matches!(
            Subject::parse("user?"),
            Err(Error::InvalidSubject(_))
        ));
        let s = Subject::parse("admin?id=1").unwrap();
        assert!(matches!(
            s.key::<i64>("user", "id"),
            Err(Error::WrongSubject { .. })
        ));
        let s = Subject::parse("user?id=1&id=2").unwrap();
        assert!(matches!(
            s.key::<i64>("user", "id"),
            Err(Error::InvalidSubject(_))
        ));
        let s = Subject::parse("user?uid=1").unwrap();
        assert!(matches!(
            s.key::<i64>("user", "id"),
            Err(Error::InvalidSubject(_))
        ));
        let s = Subject::parse("user?id=abc").unwrap();
        assert!(matches!(
            s.key::<i64>("user", "id"),
            Err(Error::InvalidSubject(_))
        ));
        assert!(matches!(
            s.key::<uuid::Uuid>("user", "id"),
            Err(Error::InvalidSubject(_))
        ));
        let s = Subject::parse("user?id=%2B1").unwrap();
        assert!(s.key::<i64>("user", "id").is_err());
    }
}
