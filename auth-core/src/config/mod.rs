//! Configuration: the DSL's value types ([`values`]) and the settings built
//! from them ([`settings`]).

mod brute_force;
mod settings;
mod values;

pub use brute_force::BruteForceConfig;
pub(crate) use brute_force::check_brute_force;
pub use settings::*;
pub use values::*;
