use auth_core::Authenticated;
use serde::{Deserialize, Serialize};

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(add_ons(confirmation(monitor_fields = ["email"])))]
pub struct User {
    pub id: i64,
    pub email: String,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn main() {}
