//! The school's identity systems, as real servers started by the tests:
//! OpenLDAP (Debian's `slapd`, filled from `tests/ldap/`) and a certified
//! OpenID Connect provider (`oidc-provider` from npm, `tests/oidc/`), and a
//! small browser that follows redirects and keeps cookies, to walk through
//! a sign-in as a teacher's browser does.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The directory's suffix.
pub const LDAP_BASE: &str = "dc=schule,dc=example";
/// The service account that searches, and its password.
pub const LDAP_SERVICE: (&str, &str) = ("cn=pult,ou=system,dc=schule,dc=example", "pult-secret");

/// A throwaway OpenLDAP server on loopback with the users of
/// `tests/ldap/base.ldif`: mueller (group lehrer), schmidt (schueler) and
/// admin-it (it-admins), each with the password NAME-secret. Stopped when dropped.
pub struct Slapd {
    child: Child,
    /// `ldap://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Slapd {
    /// Starts slapd on a free port and loads the users and groups through
    /// it, so that its memberof overlay gives users their `memberOf`.
    pub fn start() -> Self {
        let fixtures = fixtures("ldap");
        for attempt in 0.. {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("data")).unwrap();
            let config = std::fs::read_to_string(fixtures.join("slapd.conf.in"))
                .unwrap()
                .replace("@DIR@", dir.path().to_str().unwrap());
            std::fs::write(dir.path().join("slapd.conf"), config).unwrap();
            let port = free_tcp_port();
            let url = format!("ldap://127.0.0.1:{port}");
            let log = dir.path().join("slapd.log");
            let mut child = Command::new("/usr/sbin/slapd")
                .arg("-f")
                .arg(dir.path().join("slapd.conf"))
                .args(["-h", &format!("{url}/"), "-d", "none"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("slapd is needed (Debian's slapd and ldap-utils; .ci/run installs them)");
            // slapd writes its pid file once it listens.
            let started = Instant::now();
            let pid_file = dir.path().join("slapd.pid");
            let exited = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if std::fs::read_to_string(&pid_file)
                    .is_ok_and(|p| p.trim() == child.id().to_string())
                {
                    break None;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "slapd did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            if exited.is_some() {
                // Another test took the port between our check and slapd's bind.
                assert!(
                    attempt < 5 && log_text.contains("errno=98"),
                    "slapd exited: {log_text}"
                );
                continue;
            }
            // The pid file comes once it listens; a connection proves it
            // answers (and that the port is its own, not another's).
            let answering = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    child.try_wait().unwrap().is_none()
                        && answering.elapsed() < Duration::from_secs(10),
                    "slapd does not answer on {url}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            let loaded = Command::new("ldapadd")
                .args(["-x", "-H", &url, "-D", "cn=admin,dc=schule,dc=example"])
                .args(["-w", "admin-secret", "-f"])
                .arg(fixtures.join("base.ldif"))
                .output()
                .expect("ldapadd is needed (Debian's ldap-utils)");
            assert!(
                loaded.status.success(),
                "loading the directory failed: {}",
                String::from_utf8_lossy(&loaded.stderr)
            );
            return Self {
                child,
                url,
                _dir: dir,
            };
        }
        unreachable!()
    }

    /// Stops the directory now (to see the registry cope without it).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A teacher or pupil the OpenID Connect provider knows.
pub struct OidcAccount<'a> {
    /// The user name (`sub` and `preferred_username`).
    pub user: &'a str,
    /// The password at the provider.
    pub password: &'a str,
    /// The groups claim.
    pub groups: &'a [&'a str],
}

/// The OpenID Connect provider of `tests/oidc/provider.mjs` (panva's
/// certified `oidc-provider`) on loopback, with one client and `accounts`.
/// Stopped when dropped.
pub struct OidcProvider {
    child: Child,
    /// The issuer, `http://127.0.0.1:PORT`.
    pub issuer: String,
}

/// The client id and secret the provider registers.
pub const OIDC_CLIENT: (&str, &str) = ("pult-registry", "client-secret-of-the-registry");

impl OidcProvider {
    /// Starts the provider; its client may be sent back to `redirect_uri` only.
    pub fn start(redirect_uri: &str, accounts: &[OidcAccount]) -> Self {
        let dir = fixtures("oidc");
        install_node_modules(&dir);
        let accounts: Vec<serde_json::Value> = accounts
            .iter()
            .map(|a| {
                serde_json::json!({
                    "sub": a.user, "preferred_username": a.user,
                    "password": a.password, "groups": a.groups,
                })
            })
            .collect();
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .env("PORT", "0")
            .env("CLIENT_ID", OIDC_CLIENT.0)
            .env("CLIENT_SECRET", OIDC_CLIENT.1)
            .env(
                "REDIRECT_URIS",
                serde_json::json!([redirect_uri]).to_string(),
            )
            .env("ACCOUNTS", serde_json::Value::from(accounts).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Node.js is needed for the OpenID Connect provider");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    let _ = sender.send(issuer.trim().to_owned());
                }
            }
        });
        let Ok(issuer) = receiver.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("the OpenID Connect provider did not start");
        };
        Self { child, issuer }
    }
}

impl OidcProvider {
    /// Makes this provider `school`'s (`pult-registry sign-in oidc`), its
    /// button saying `label`; `callback` is the registry's /oidc/callback.
    pub fn register_at(&self, school: &crate::School, callback: &str, label: &str) {
        school.registry_with_input(
            &[
                "sign-in",
                "oidc",
                "--issuer",
                &self.issuer,
                "--client-id",
                OIDC_CLIENT.0,
                "--redirect-uri",
                callback,
                "--label",
                label,
            ],
            &format!("{}\n", OIDC_CLIENT.1),
        );
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `npm ci` in `dir` once, whichever test binary comes first (a file lock
/// keeps two from installing at once).
fn install_node_modules(dir: &Path) {
    let lock = std::fs::File::create(dir.join(".install.lock")).unwrap();
    lock.lock().unwrap();
    if !dir.join("node_modules/oidc-provider/package.json").exists() {
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .output()
            .expect("npm is needed for the OpenID Connect provider");
        assert!(
            output.status.success(),
            "npm ci in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let _ = lock.unlock();
}

fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a browser got for one request.
#[derive(Debug)]
pub struct Page {
    /// Where it came from.
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// Where a redirect leads, absolute; "" for none.
    pub location: String,
    /// The body.
    pub body: String,
}

/// A browser as far as a sign-in needs one: GET and form POSTs, cookies
/// kept per host and port, redirects followed one by one (so a test can
/// stop before a redirect that leaves for an address nobody serves). It
/// trusts any certificate: the registry's is the school CA's.
pub struct Browser {
    http: ureq::Agent,
    cookies: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// A browser with no cookies.
    pub fn new() -> Self {
        let http = ureq::Agent::config_builder()
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .disable_verification(true)
                    .build(),
            )
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            http,
            cookies: BTreeMap::new(),
        }
    }

    /// GETs `url`.
    pub fn get(&mut self, url: &str) -> Page {
        let request = self.http.get(url);
        let request = match self.cookie_header(url) {
            Some(cookies) => request.header("Cookie", &cookies),
            None => request,
        };
        self.page(url, request.call())
    }

    /// POSTs a form to `url`, as a page of the same site does.
    pub fn post_form(&mut self, url: &str, fields: &[(&str, &str)]) -> Page {
        let mut request = self.http.post(url).header("Origin", &origin(url));
        if let Some(cookies) = self.cookie_header(url) {
            request = request.header("Cookie", &cookies);
        }
        self.page(url, request.send_form(fields.iter().copied()))
    }

    /// Follows redirects from `page` until one leads to an address for
    /// which `stop` holds (not fetched) or a page is not a redirect.
    pub fn follow(&mut self, mut page: Page, stop: impl Fn(&str) -> bool) -> Page {
        for _ in 0..20 {
            if page.location.is_empty() || stop(&page.location) {
                return page;
            }
            let next = page.location.clone();
            page = self.get(&next);
        }
        panic!("more than 20 redirects, the last to {}", page.location);
    }

    /// The value of the cookie `name` this browser keeps for `url`'s host.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.cookies.get(&origin(url))?.get(name).cloned()
    }

    fn cookie_header(&self, url: &str) -> Option<String> {
        let jar = self.cookies.get(&origin(url))?;
        (!jar.is_empty()).then(|| {
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn page(
        &mut self,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Page {
        let mut response = response.unwrap_or_else(|e| panic!("{url}: {e}"));
        let jar = self.cookies.entry(origin(url)).or_default();
        for set in response.headers().get_all("set-cookie") {
            let text = set.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let expired = text.to_ascii_lowercase().contains("max-age=0");
                if expired || value.is_empty() {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_owned(), value.to_owned());
                }
            }
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(|l| {
                url::Url::parse(url)
                    .and_then(|base| base.join(l))
                    .map(String::from)
                    .unwrap_or_else(|_| l.to_owned())
            })
            .unwrap_or_default();
        Page {
            url: url.to_owned(),
            status: response.status().as_u16(),
            location,
            body: response.body_mut().read_to_string().unwrap_or_default(),
        }
    }
}

/// `scheme://host:port` of `url`.
fn origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}
