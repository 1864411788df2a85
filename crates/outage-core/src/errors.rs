//! Showing an error together with its causes.
//!
//! Errors of this workspace keep the error they wrap as their [`source`](std::error::Error::source)
//! and leave it out of their own message, so a caller that prints the whole chain (the binary
//! uses anyhow's `{:#}`) shows each cause once. Logs and texts that have only the error at hand
//! use [`ErrorChain`].

use std::fmt;

/// Displays an error and every cause behind it, joined by `": "`, the way anyhow's `{:#}` does.
/// A cause whose text already appears earlier in the line is skipped.
///
/// ```
/// use outage_core::errors::ErrorChain;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("cannot read the schedule")]
/// struct Outer(#[source] std::io::Error);
///
/// let e = Outer(std::io::Error::other("disk on fire"));
/// assert_eq!(e.to_string(), "cannot read the schedule");
/// assert_eq!(ErrorChain(&e).to_string(), "cannot read the schedule: disk on fire");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(c) = cause {
            let text = c.to_string();
            if !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            cause = c.source();
        }
        f.write_str(&line)
    }
}
