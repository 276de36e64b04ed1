//! Digest credentials: `user:password`, never printed.

use std::fmt;

use crate::error::{CredentialProblem, SettingsError};

/// A digest credential, `user:password`, sent as `digest` auth when a session opens.
///
/// `Debug` hides the password, and there is no `Display`, so it does not end up in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    user: String,
    password: String,
}

impl Credential {
    /// Builds a credential from its parts.
    ///
    /// # Errors
    /// [`SettingsError::Credential`] when `user` is empty or contains `:` (the digest scheme
    /// splits at the first `:`, so such a user could never authenticate).
    pub fn new(
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Credential, SettingsError> {
        let user = user.into();
        let problem = if user.is_empty() {
            CredentialProblem::EmptyUser
        } else if user.contains(':') {
            CredentialProblem::ColonInUser
        } else {
            return Ok(Credential {
                user,
                password: password.into(),
            });
        };
        Err(SettingsError::Credential {
            origin: "credential".to_string(),
            problem,
        })
    }

    /// Parses `user:password`. The password may contain `:` (the split is at the first one) and
    /// may be empty; the user may not.
    ///
    /// # Errors
    /// [`SettingsError::Credential`] with origin `credential`.
    pub fn parse(s: &str) -> Result<Credential, SettingsError> {
        Credential::parse_from(s, "credential")
    }

    pub(super) fn parse_from(s: &str, origin: &str) -> Result<Credential, SettingsError> {
        let error = |problem| SettingsError::Credential {
            origin: origin.to_string(),
            problem,
        };
        let (user, password) = s
            .split_once(':')
            .ok_or_else(|| error(CredentialProblem::MissingColon))?;
        if user.is_empty() {
            return Err(error(CredentialProblem::EmptyUser));
        }
        Ok(Credential {
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The bytes of the `digest` auth packet: `user:password`.
    pub fn auth_bytes(&self) -> Vec<u8> {
        format!("{}:{}", self.user, self.password).into_bytes()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}
