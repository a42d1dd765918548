use auth_core::Authenticated;

#[derive(Authenticated)]
pub struct User(i64);

fn main() {}
