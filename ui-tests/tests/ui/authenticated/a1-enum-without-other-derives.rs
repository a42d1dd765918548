use auth_core::Authenticated;

#[derive(Authenticated)]
pub enum User {
    A,
}

fn main() {}
