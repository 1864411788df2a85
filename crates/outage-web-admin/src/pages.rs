//! The sailfish templates (in `templates/`) and the data they show. `<%= %>` escapes every
//! value, so a location or user name can never become markup.

use sailfish::TemplateSimple;

use crate::i18n::T;

/// The logged-in user as the header shows it.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub name: String,
    pub role: &'static str,
    pub admin: bool,
}

/// The frame of every page.
#[derive(TemplateSimple)]
#[template(path = "layout.stpl")]
pub struct Layout {
    pub t: &'static T,
    pub title: String,
    pub user: Option<CurrentUser>,
    pub csrf: String,
    pub flash: Option<&'static str>,
    pub body: String,
}

#[derive(TemplateSimple)]
#[template(path = "login.stpl")]
pub struct LoginPage {
    pub t: &'static T,
    pub csrf: String,
    pub username: String,
    pub error: Option<String>,
}

#[derive(TemplateSimple)]
#[template(path = "setup.stpl")]
pub struct SetupPage {
    pub t: &'static T,
}

/// One row of the locations list.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub name: String,
    pub state: &'static str,
    pub label: &'static str,
    pub last_seen: String,
    pub outage_for: String,
    pub today_off: String,
    pub enabled: bool,
}

#[derive(TemplateSimple)]
#[template(path = "list.stpl")]
pub struct ListPage {
    pub t: &'static T,
    pub rows: Vec<Row>,
    pub can_write: bool,
}

#[derive(TemplateSimple)]
#[template(path = "form.stpl")]
pub struct FormPage {
    pub t: &'static T,
    pub heading: String,
    pub action: String,
    pub name: String,
    pub timeout: String,
    pub chat_id: String,
    /// The routes as typed (`family, me:123`); empty: every configured notifier.
    pub routes: String,
    /// The configured notifier instances, for the hint.
    pub instances: String,
    pub enabled: bool,
    pub is_edit: bool,
    pub error: Option<String>,
    pub csrf: String,
}

#[derive(TemplateSimple)]
#[template(path = "confirm.stpl")]
pub struct ConfirmPage {
    pub t: &'static T,
    pub id: i64,
    pub name: String,
    pub csrf: String,
}

/// One outage in the detail table.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub start: String,
    pub end: String,
    pub duration: String,
    pub cause: String,
}

#[derive(TemplateSimple)]
#[template(path = "detail.stpl")]
pub struct DetailPage {
    pub t: &'static T,
    pub row: Row,
    pub timeout: String,
    pub chat_id: String,
    pub routes: String,
    pub paused_until: String,
    pub week: String,
    pub week_label: String,
    pub prev_week: String,
    pub next_week: Option<String>,
    pub events: Vec<EventRow>,
    pub can_write: bool,
    pub csrf: String,
    pub pause_default: String,
}

#[derive(TemplateSimple)]
#[template(path = "device.stpl")]
pub struct DevicePage {
    pub t: &'static T,
    pub id: i64,
    pub name: String,
    pub key: Option<String>,
    pub settings: Vec<(&'static str, String)>,
    pub can_write: bool,
    pub csrf: String,
}

/// One configured notifier.
#[derive(Debug, Clone)]
pub struct NotifierRow {
    pub name: String,
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
    /// The last error and when ("" when none).
    pub last_error: String,
    pub last_error_at: String,
}

#[derive(TemplateSimple)]
#[template(path = "notifiers.stpl")]
pub struct NotifiersPage {
    pub t: &'static T,
    pub notifiers: Vec<NotifierRow>,
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
    pub locations: Vec<(i64, String)>,
    pub results: Vec<(String, String, bool, String)>,
    pub can_write: bool,
    pub csrf: String,
}

#[derive(TemplateSimple)]
#[template(path = "users.stpl")]
pub struct UsersPage {
    pub t: &'static T,
    pub users: Vec<(String, String, String)>,
}

#[derive(TemplateSimple)]
#[template(path = "message.stpl")]
pub struct MessagePage {
    pub heading: String,
    pub text: String,
    pub back: &'static str,
}
