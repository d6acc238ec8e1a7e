//! The views shared by the API, message templates and Slack: how an incident and its clock
//! look from outside. Views read; they never change anything.

pub mod brief;
pub mod clock;
pub mod incident;
pub mod similar_cache;
