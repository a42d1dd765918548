//! Configuration: the DSL's value types ([`values`]) and the settings built
//! from them ([`settings`]).

mod settings;
mod values;

pub use settings::*;
pub use values::*;
