//! The app's way to a room on a teacher PC enrolled at a registry (R8, R9):
//! the teacher signs in (user name and password, or the school's identity
//! provider in the browser), picks one of the rooms the PC is for (its own
//! first), and the room certificate is installed and renewed before it runs
//! out. The teacher never handles a file. Blocking calls: the app runs them
//! off its event loop.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

pub use pult_protocol::registry_api::SignInMethods;
use pult_protocol::registry_api::Tokens;
use pult_registry_client::ClientError;
use serde::Serialize;
use time::OffsetDateTime;

use crate::RoomCertificate;
use crate::desk::DeskError;
use crate::registry::{self, RegistrySetting};

/// Renew when a third of a certificate's time is left, but at the latest
/// this long before it ends (a short certificate: at two thirds of its time).
const RENEW_MARGIN: Duration = Duration::from_secs(15 * 60);
/// After a failed renewal, try again this much later.
const RENEW_RETRY: Duration = Duration::from_secs(60);

/// A teacher PC's registry, and the sign-in under way.
pub struct Registration {
    setting: RegistrySetting,
    room_dir: PathBuf,
    signed_in: Mutex<Option<Tokens>>,
}

/// Who signed in, and the rooms they may choose from.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedIn {
    /// The user name the registry knows.
    pub user: String,
    /// The rooms of this PC: the one it stands in first.
    pub rooms: Vec<String>,
}

impl Registration {
    /// The registry of the setting file `setting`, if there is one (an
    /// installer or `pultctl enroll` writes it); the room certificate goes to
    /// `room_dir`.
    pub fn load(setting: &Path, room_dir: PathBuf) -> Result<Option<Self>, DeskError> {
        if !setting.exists() {
            return Ok(None);
        }
        let setting = RegistrySetting::load(setting).map_err(|e| desk_error("setting", &e))?;
        Ok(Some(Self {
            setting,
            room_dir,
            signed_in: Mutex::new(None),
        }))
    }

    /// Where the room certificate is installed.
    pub fn room_dir(&self) -> &Path {
        &self.room_dir
    }

    /// The room certificate installed, if it is still good for a while; one
    /// close to its end is renewed first with the sign-in kept from before.
    /// `None` means the teacher must sign in.
    pub fn installed(&self) -> Option<RoomCertificate> {
        let room = RoomCertificate::load(&self.room_dir).ok()?;
        let left = Duration::try_from(room.manifest.not_after - OffsetDateTime::now_utc())
            .unwrap_or(Duration::ZERO);
        if left <= RENEW_MARGIN {
            self.renew().ok()
        } else {
            Some(room)
        }
    }

    /// How teachers sign in at this registry.
    pub fn methods(&self) -> Result<SignInMethods, DeskError> {
        let client = self.client()?;
        client.methods().map_err(client_error)
    }

    /// Signs in with a user name and password.
    pub fn sign_in(&self, user: &str, password: &str) -> Result<SignedIn, DeskError> {
        let client = self.client()?;
        let tokens = client.sign_in(user, password).map_err(client_error)?;
        self.signed_in_as(&client, tokens)
    }

    /// Signs in with the school's identity provider in the browser that
    /// `open` opens at the address it is given.
    pub fn sign_in_in_browser(
        &self,
        open: impl FnOnce(&str) -> anyhow::Result<()>,
    ) -> Result<SignedIn, DeskError> {
        let client = self.client()?;
        let tokens =
            registry::browser_tokens(&client, open).map_err(|e| desk_error("sign-in", &e))?;
        self.signed_in_as(&client, tokens)
    }

    /// Installs the room certificate for `room` (by default the PC's own
    /// room) for the teacher who signed in, and keeps the sign-in for renewals.
    /// A room that could not be opened (not allowed for this PC, the network
    /// gone a moment) keeps the sign-in, so the teacher may pick again.
    pub fn take_room(&self, room: Option<&str>) -> Result<RoomCertificate, DeskError> {
        let tokens = self
            .signed_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| DeskError {
                code: "sign-in-required".into(),
                message: "sign in first".into(),
                holder: None,
            })?;
        let client = self.client()?;
        registry::take_room(&self.setting, &client, tokens, room, &self.room_dir)
            .map_err(|e| desk_error("sign-in", &e))?;
        // The session is kept for renewals now; the tokens are spent.
        *self.signed_in.lock().unwrap_or_else(|p| p.into_inner()) = None;
        RoomCertificate::load(&self.room_dir).map_err(DeskError::from)
    }

    /// Renews the installed room certificate with the kept sign-in.
    pub fn renew(&self) -> Result<RoomCertificate, DeskError> {
        registry::renew(&self.setting, &self.room_dir).map_err(|e| desk_error("renewal", &e))?;
        RoomCertificate::load(&self.room_dir).map_err(DeskError::from)
    }

    /// How long to wait before renewing after a renewal that failed.
    pub fn retry_after() -> Duration {
        RENEW_RETRY
    }

    /// Whether a renewal refused with `error` can never work without a new
    /// sign-in (the school day's sign-in ended, the teacher left the
    /// authorised group), so trying again is of no use.
    pub fn renewal_is_over(error: &DeskError) -> bool {
        matches!(
            error.code.as_str(),
            "sign-in-required" | "not-authorised" | "no-authorised-group" | "not-teacher-device"
        )
    }

    fn signed_in_as(
        &self,
        client: &pult_registry_client::RegistryClient,
        tokens: Tokens,
    ) -> Result<SignedIn, DeskError> {
        let rooms = client.rooms(&tokens.access_token).map_err(client_error)?;
        let signed_in = SignedIn {
            user: tokens.user.clone(),
            rooms: rooms.rooms,
        };
        *self.signed_in.lock().unwrap_or_else(|p| p.into_inner()) = Some(tokens);
        Ok(signed_in)
    }

    fn client(&self) -> Result<pult_registry_client::RegistryClient, DeskError> {
        self.setting
            .client()
            .map_err(|e| desk_error("teacher-pc", &e))
    }
}

/// How long from `now` until a certificate that ends at `not_after` should
/// be renewed: after two thirds of the time it has left, but at the latest
/// [`RENEW_MARGIN`] before its end if it has longer; zero once it ended.
/// Never zero for a certificate that has time left, so a fresh short one
/// is not renewed in a loop.
pub fn renew_in(not_after: OffsetDateTime, now: OffsetDateTime) -> Duration {
    let left = Duration::try_from(not_after - now).unwrap_or(Duration::ZERO);
    let two_thirds = left * 2 / 3;
    match left.checked_sub(RENEW_MARGIN) {
        Some(latest) if !latest.is_zero() => two_thirds.min(latest),
        _ => two_thirds,
    }
}

/// The registry's refusal as the app receives it: its stable code
/// (`sign-in-refused`, `not-authorised`, `too-many-attempts`,
/// `identity-provider-unavailable`, …) or `registry-unreachable`.
fn client_error(error: ClientError) -> DeskError {
    let code = match &error {
        ClientError::Refused { code, .. } => code.clone(),
        ClientError::Unreachable { .. } => "registry-unreachable".into(),
        ClientError::WrongRegistry { .. } | ClientError::Protocol(_) => "registry-failed".into(),
    };
    DeskError {
        code,
        message: error.to_string(),
        holder: None,
    }
}

/// Any other failure on the way, under `code`; a registry refusal inside
/// keeps the registry's own code.
fn desk_error(code: &str, error: &anyhow::Error) -> DeskError {
    if let Some(client) = error.downcast_ref::<ClientError>()
        && let Some(registry_code) = client.code()
    {
        return DeskError {
            code: registry_code.to_owned(),
            message: format!("{error:#}"),
            holder: None,
        };
    }
    DeskError {
        code: code.to_owned(),
        message: format!("{error:#}"),
        holder: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn a_certificate_is_renewed_with_a_third_of_its_time_left_and_never_late() {
        let hour = 3600;
        // Eight hours left: renew after five hours and twenty minutes.
        assert_eq!(
            renew_in(at(8 * hour), at(0)),
            Duration::from_secs(16 * hour as u64 / 3)
        );
        // Thirty minutes left: fifteen minutes before the end.
        assert_eq!(renew_in(at(1800), at(0)), Duration::from_secs(900));
        // A short certificate (two minutes): after eighty seconds, not in a loop.
        assert_eq!(renew_in(at(120), at(0)), Duration::from_secs(80));
        // Over: now.
        assert_eq!(renew_in(at(-60), at(0)), Duration::ZERO);
    }

    #[test]
    fn a_registry_refusal_keeps_its_code_for_the_app_to_word() {
        let refused = client_error(ClientError::Refused {
            status: 403,
            code: "not-authorised".into(),
            message: "user 'schmidt' is not in the group 'lehrer'".into(),
        });
        assert_eq!(refused.code, "not-authorised");
        let wrapped = desk_error(
            "sign-in",
            &anyhow::Error::new(ClientError::Refused {
                status: 403,
                code: "no-authorised-group".into(),
                message: "none".into(),
            })
            .context("taking the room"),
        );
        assert_eq!(wrapped.code, "no-authorised-group");
        let unreachable = client_error(ClientError::Unreachable {
            url: "https://registry".into(),
            detail: "connection refused".into(),
        });
        assert_eq!(unreachable.code, "registry-unreachable");
    }
}
