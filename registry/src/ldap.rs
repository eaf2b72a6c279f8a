//! Sign-in against the school's directory (R9, R16): OpenLDAP, Samba or
//! Active Directory, as school servers run them.
//!
//! The usual "search, then bind": a service account (or an anonymous bind)
//! finds the one entry whose user name matches, reads the groups it is in
//! (`memberOf` as Active Directory and OpenLDAP's memberof overlay keep it,
//! and, if a group base is set, the groups that list the entry as a member),
//! then a bind with the entry's DN and the password given proves the
//! password. The registry never sees a directory password hash and keeps no
//! directory password but the service account's.

use std::sync::Arc;
use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions, ldap_escape};
use serde::{Deserialize, Serialize};

use crate::{Identity, SignInMethod};

/// How long the directory may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one directory operation may take.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// The most groups read for one user.
const MAX_GROUPS: usize = 500;

/// Where the directory is and how users and groups are found in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSettings {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// The CA that issued the directory's certificate (PEM), if not a public one.
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// Where users are searched.
    pub base_dn: String,
    /// The service account that searches; none for an anonymous search.
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// The service account's password. Secret.
    #[serde(default)]
    pub bind_password: Option<String>,
    /// The filter that finds a user; `{user}` stands for the name typed in.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// Where groups are searched, if groups list their members (as
    /// `groupOfNames`, `groupOfUniqueNames` or `posixGroup` do); `memberOf`
    /// is read in any case.
    #[serde(default)]
    pub group_base_dn: Option<String>,
    /// The filter that finds a user's groups; `{dn}` stands for the user's
    /// entry, `{user}` for their user name.
    #[serde(default = "default_group_filter")]
    pub group_filter: String,
}

/// Finds a user by `uid` (OpenLDAP, Samba 4's posix side) or `sAMAccountName` (Active Directory).
pub fn default_user_filter() -> String {
    "(&(objectClass=person)(|(uid={user})(sAMAccountName={user})))".into()
}

/// Groups that list the user by DN or, for posix groups, by name.
pub fn default_group_filter() -> String {
    "(|(member={dn})(uniqueMember={dn})(memberUid={user}))".into()
}

/// Why a sign-in against the directory did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    /// The user name or the password is wrong (or the user is not in the directory).
    #[error("the user name or the password is wrong")]
    Refused,
    /// More than one entry matches the user name; the filter is too wide.
    #[error("{0} directory entries match the user name; the user filter must find exactly one")]
    Ambiguous(usize),
    /// The directory could not be reached, or failed.
    #[error("the directory at {url} failed: {reason}")]
    Unavailable {
        /// Its address.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The settings are unusable.
    #[error("the directory settings are unusable: {0}")]
    Settings(String),
}

impl LdapSettings {
    /// Checks what can be checked without the directory: the address, the
    /// filters' placeholders and the CA.
    pub fn check(&self) -> Result<(), LdapError> {
        let url = url::Url::parse(&self.url)
            .map_err(|e| LdapError::Settings(format!("the address '{}': {e}", self.url)))?;
        match url.scheme() {
            "ldap" | "ldaps" => {}
            other => {
                return Err(LdapError::Settings(format!(
                    "the address must begin with ldap:// or ldaps://, not {other}://"
                )));
            }
        }
        if url.scheme() == "ldaps" && self.starttls {
            return Err(LdapError::Settings(
                "StartTLS is for ldap:// addresses; ldaps:// is encrypted already".into(),
            ));
        }
        // Teachers' passwords cross the network: never in clear, but to a
        // directory on this very machine.
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            // ldap:// is no special scheme to the URL parser: its host stays text.
            Some(url::Host::Domain(name)) => {
                name == "localhost"
                    || name
                        .trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            None => false,
        };
        if url.scheme() == "ldap" && !self.starttls && !loopback {
            return Err(LdapError::Settings(format!(
                "passwords would cross the network in clear: use ldaps:// or --starttls for {}",
                self.url
            )));
        }
        if self.base_dn.trim().is_empty() {
            return Err(LdapError::Settings("the base DN is empty".into()));
        }
        if !self.user_filter.contains("{user}") {
            return Err(LdapError::Settings(
                "the user filter must contain {user}".into(),
            ));
        }
        if self.bind_dn.is_some() != self.bind_password.is_some() {
            return Err(LdapError::Settings(
                "a service account needs both its DN and its password".into(),
            ));
        }
        if let Some(ca) = &self.ca_pem {
            roots(ca)?;
        }
        Ok(())
    }

    /// The settings without the service account's password, to show.
    pub fn redacted(&self) -> Self {
        Self {
            bind_password: self.bind_password.as_ref().map(|_| "********".into()),
            ..self.clone()
        }
    }

    /// Signs `user` in with `password`: their identity and groups if the
    /// directory accepts the password.
    pub async fn sign_in(&self, user: &str, password: &str) -> Result<Identity, LdapError> {
        // An empty password is an unauthenticated bind, which many
        // directories answer with success (RFC 4513, 5.1.2).
        if password.is_empty() || user.trim().is_empty() {
            return Err(LdapError::Refused);
        }
        let unavailable = |e: &dyn std::fmt::Display| LdapError::Unavailable {
            url: self.url.clone(),
            reason: e.to_string(),
        };
        let mut connection = LdapConnSettings::new()
            .set_conn_timeout(CONNECT_TIMEOUT)
            .set_starttls(self.starttls);
        if let Some(ca) = &self.ca_pem {
            connection = connection.set_config(tls_config(ca)?);
        }
        let (driver, mut ldap) = LdapConnAsync::with_settings(connection, &self.url)
            .await
            .map_err(|e| unavailable(&e))?;
        ldap3::drive!(driver);
        ldap.with_timeout(OPERATION_TIMEOUT);
        if let (Some(dn), Some(password)) = (&self.bind_dn, &self.bind_password) {
            ldap.simple_bind(dn, password)
                .await
                .and_then(|r| r.success())
                .map_err(|e| unavailable(&format!("the service account was refused: {e}")))?;
        }
        let escaped = ldap_escape(user.trim());
        let filter = self.user_filter.replace("{user}", &escaped);
        let entries = ldap
            .with_search_options(SearchOptions::new().sizelimit(2))
            .with_timeout(OPERATION_TIMEOUT)
            .search(
                &self.base_dn,
                Scope::Subtree,
                &filter,
                vec!["uid", "sAMAccountName", "memberOf"],
            )
            .await
            .map_err(|e| unavailable(&e))
            .and_then(|r| found(r).map_err(|e| unavailable(&e)))?;
        let entry = match entries.len() {
            0 => return Err(LdapError::Refused),
            1 => SearchEntry::construct(entries.into_iter().next().ok_or(LdapError::Refused)?),
            more => return Err(LdapError::Ambiguous(more)),
        };
        let name = ["uid", "sAMAccountName"]
            .iter()
            .find_map(|a| entry.attrs.get(*a).and_then(|v| v.first()))
            .cloned()
            .unwrap_or_else(|| user.trim().to_owned());
        // With a group base, only groups below it count: anyone allowed to
        // make a group elsewhere (a project group) must not name one like
        // the authorised group and so gain its rights.
        let mut groups: Vec<String> = entry
            .attrs
            .get("memberOf")
            .into_iter()
            .flatten()
            .filter(|dn| {
                self.group_base_dn
                    .as_deref()
                    .is_none_or(|base| below(dn, base))
            })
            .filter_map(|dn| group_name(dn))
            .collect();
        if let Some(base) = &self.group_base_dn {
            let filter = self
                .group_filter
                .replace("{dn}", &ldap_escape(&entry.dn))
                .replace("{user}", &ldap_escape(&name));
            let listed = ldap
                .with_search_options(SearchOptions::new().sizelimit(MAX_GROUPS as i32))
                .with_timeout(OPERATION_TIMEOUT)
                .search(base, Scope::Subtree, &filter, vec!["cn"])
                .await
                .map_err(|e| unavailable(&e))
                .and_then(|r| found(r).map_err(|e| unavailable(&e)))?;
            groups.extend(
                listed
                    .into_iter()
                    .map(SearchEntry::construct)
                    .filter_map(|g| g.attrs.get("cn").and_then(|v| v.first()).cloned()),
            );
        }
        groups.sort();
        groups.dedup();
        groups.truncate(MAX_GROUPS);
        // The password last: whatever the answer, nothing was read with it.
        let bound = ldap.simple_bind(&entry.dn, password).await;
        let _ = ldap.unbind().await;
        match bound {
            Ok(result) if result.rc == 0 => Ok(Identity {
                user: name,
                groups,
                method: SignInMethod::Ldap,
            }),
            // 49: invalid credentials; 53: unwilling (a locked account, say).
            Ok(result) if matches!(result.rc, 49 | 53) => Err(LdapError::Refused),
            Ok(result) => Err(unavailable(&result)),
            Err(error) => Err(unavailable(&error)),
        }
    }
}

/// The entries of a search; one that stopped at its size limit (4) still
/// carries what it found.
fn found(result: ldap3::SearchResult) -> Result<Vec<ldap3::ResultEntry>, ldap3::LdapResult> {
    match result.1.rc {
        0 | 4 => Ok(result.0),
        _ => Err(result.1),
    }
}

/// The name of the group whose DN is `dn`: the value of its first RDN
/// (`cn=lehrer,ou=groups,…` is `lehrer`), unescaped as RFC 4514 writes it:
/// `cn=a\,b,…` is `a,b`, never `a`.
fn group_name(dn: &str) -> Option<String> {
    let first = split_rdns(dn).into_iter().next()?;
    let (_, value) = first.split_once('=')?;
    let value = unescape(value.trim())?;
    (!value.is_empty()).then_some(value)
}

/// Whether `dn` lies below `base` (RDNs compared without case and the
/// spaces around them).
fn below(dn: &str, base: &str) -> bool {
    let normal = |text: &str| -> Vec<String> {
        split_rdns(text)
            .iter()
            .map(|rdn| rdn.trim().to_lowercase().replace(" = ", "="))
            .collect()
    };
    let (dn, base) = (normal(dn), normal(base));
    dn.len() > base.len() && dn[dn.len() - base.len()..] == base[..]
}

/// The RDNs of a DN: split at commas that are not escaped.
fn split_rdns(dn: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (index, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                parts.push(&dn[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&dn[start..]);
    parts
}

/// An RDN value with its escapes (`\,` and `\2C` alike) resolved; `None`
/// for a broken escape.
fn unescape(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first != b'\\' {
            bytes.push(first);
            rest = tail;
            continue;
        }
        match tail {
            [a, b, after @ ..] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
                let hex = std::str::from_utf8(&[*a, *b]).ok()?.to_owned();
                bytes.push(u8::from_str_radix(&hex, 16).ok()?);
                rest = after;
            }
            [c, after @ ..] => {
                bytes.push(*c);
                rest = after;
            }
            [] => return None,
        }
    }
    String::from_utf8(bytes).ok()
}

/// A TLS setup that trusts `ca_pem` only.
fn tls_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, LdapError> {
    let roots = roots(ca_pem)?;
    let config =
        rustls::ClientConfig::builder_with_provider(pult_protocol::endpoint::crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| LdapError::Settings(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

fn roots(ca_pem: &str) -> Result<rustls::RootCertStore, LdapError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let certificate =
            certificate.map_err(|e| LdapError::Settings(format!("the directory's CA: {e}")))?;
        roots
            .add(certificate)
            .map_err(|e| LdapError::Settings(format!("the directory's CA: {e}")))?;
    }
    if roots.is_empty() {
        return Err(LdapError::Settings(
            "the directory's CA file holds no certificate".into(),
        ));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LdapSettings {
        LdapSettings {
            url: "ldap://127.0.0.1:389".into(),
            starttls: false,
            ca_pem: None,
            base_dn: "dc=schule,dc=example".into(),
            bind_dn: None,
            bind_password: None,
            user_filter: default_user_filter(),
            group_base_dn: None,
            group_filter: default_group_filter(),
        }
    }

    #[test]
    fn a_group_is_named_by_its_whole_first_rdn() {
        assert_eq!(
            group_name("cn=lehrer,ou=groups,dc=schule,dc=example").as_deref(),
            Some("lehrer")
        );
        assert_eq!(
            group_name("CN=Lehrer der Schule,OU=Gruppen,DC=ad").as_deref(),
            Some("Lehrer der Schule")
        );
        // An escaped comma is part of the name: this group is not "admins".
        assert_eq!(
            group_name(r"CN=admins\, nur Projekt,OU=Projekte,DC=ad").as_deref(),
            Some("admins, nur Projekt")
        );
        assert_eq!(
            group_name(r"cn=M\C3\BCller\2C AG,ou=x").as_deref(),
            Some("Müller, AG")
        );
        assert_eq!(group_name("no rdn"), None);
        assert_eq!(group_name("cn=,ou=x"), None);
        assert_eq!(group_name(r"cn=broken\"), None);
    }

    #[test]
    fn only_groups_below_the_group_base_count_when_one_is_set() {
        let base = "ou=groups,dc=schule,dc=example";
        assert!(below("cn=lehrer,ou=groups,dc=schule,dc=example", base));
        assert!(below("CN=Lehrer, OU=Groups, DC=Schule, DC=Example", base));
        assert!(!below("cn=lehrer,ou=projekte,dc=schule,dc=example", base));
        assert!(!below(base, base));
        assert!(!below(r"cn=x\,ou=groups,dc=schule,dc=example", "dc=other"));
    }

    #[test]
    fn settings_that_cannot_work_are_named() {
        assert!(settings().check().is_ok());
        for fine in ["ldaps://dc.schule.example", "ldap://localhost:389"] {
            let mut s = settings();
            s.url = fine.into();
            assert!(s.check().is_ok(), "{fine}");
        }
        let mut upgraded = settings();
        upgraded.url = "ldap://dc.schule.example".into();
        upgraded.starttls = true;
        assert!(upgraded.check().is_ok());
        let bad = |change: fn(&mut LdapSettings), expected: &str| {
            let mut s = settings();
            change(&mut s);
            let error = s.check().unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        };
        bad(|s| s.url = "http://dir".into(), "ldap:// or ldaps://");
        bad(|s| s.url = "ldap://dc.schule.example".into(), "in clear");
        bad(|s| s.url = "nonsense".into(), "the address");
        bad(
            |s| {
                s.url = "ldaps://dir".into();
                s.starttls = true;
            },
            "StartTLS",
        );
        bad(|s| s.base_dn = " ".into(), "base DN");
        bad(|s| s.user_filter = "(uid=x)".into(), "{user}");
        bad(|s| s.bind_dn = Some("cn=pult".into()), "both");
        bad(|s| s.ca_pem = Some("not a certificate".into()), "CA");
    }

    #[test]
    fn the_service_password_is_not_shown() {
        let mut s = settings();
        s.bind_dn = Some("cn=pult".into());
        s.bind_password = Some("geheim".into());
        let shown = serde_json::to_string(&s.redacted()).unwrap();
        assert!(!shown.contains("geheim"), "{shown}");
    }

    #[tokio::test]
    async fn an_empty_password_is_refused_before_the_directory_is_asked() {
        // Nothing listens on port 9; an empty password never gets that far.
        let mut s = settings();
        s.url = "ldap://127.0.0.1:9".into();
        assert!(matches!(
            s.sign_in("mueller", "").await,
            Err(LdapError::Refused)
        ));
        assert!(matches!(
            s.sign_in("mueller", "x").await,
            Err(LdapError::Unavailable { .. })
        ));
    }
}
