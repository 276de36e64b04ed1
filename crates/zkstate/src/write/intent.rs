//! What a write says of itself in the state's history ([`crate::history`]), and the exact
//! value of a rollback.

/// What a write says of itself in the state's history, and the exact JSON of a rollback.
#[derive(Clone, Debug, Default)]
pub(crate) struct Intent {
    /// The writer's message, at most [`MAX_MESSAGE`] bytes.
    pub(crate) message: Option<String>,
    /// The version a rollback restores.
    pub(crate) rollback_of: Option<i32>,
    /// A rollback's value, stored as it is in place of the closure's result.
    pub(crate) exact: Option<serde_json::Value>,
}

/// The longest message a history entry keeps, in bytes (a longer one is cut).
pub const MAX_MESSAGE: usize = 1024;

impl Intent {
    /// A write with `message` (cut to [`MAX_MESSAGE`] on a character boundary).
    pub(crate) fn with_message(mut self, message: Option<String>) -> Intent {
        self.message = message.map(|mut message| {
            if message.len() > MAX_MESSAGE {
                let mut end = MAX_MESSAGE;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
            }
            message
        });
        self
    }
}
